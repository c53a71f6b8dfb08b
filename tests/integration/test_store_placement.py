"""Where unpacked layers land on disk: the Orlov "top of trees" mark on the store's tmp folder."""
from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.store.snapshots import spread_subdirs

from tests.fixtures.images import TarBuilder, make_image

pytestmark = pytest.mark.root

FS_IOC_GETFLAGS = 0x80086601
FS_TOPDIR_FL = 0x00020000


def _flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]
    finally:
        os.close(fd)


def _fs_type(path: Path) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_unpack_marks_tmp_as_top_of_trees_on_ext4(engine):
    layer = TarBuilder().dir("etc").file("etc/hostname", b"placed\n").bytes()
    rec = make_image(engine, [layer], [f"placed-{os.getpid()}:1"], gzip_layers=True)
    if not _fs_type(engine.paths.tmp).startswith("ext"):
        pytest.skip(f"the store is on {_fs_type(engine.paths.tmp)}, not ext2/3/4")
    assert _flags(engine.paths.tmp) & FS_TOPDIR_FL, "tmp was not marked +T"
    # The layer itself unpacked and installed as before.
    chain = engine.images.rootfs_chain(rec)
    assert (engine.snapshots.layer_dir(chain) / "etc/hostname").read_bytes() == b"placed\n"


def test_spread_subdirs_keeps_other_flags_and_is_quiet_where_unsupported(tmp_path):
    if _fs_type(tmp_path).startswith("ext"):
        target = tmp_path / "ext"
        target.mkdir()
        subprocess.run(["chattr", "+A", str(target)], check=True)   # noatime: must survive
        spread_subdirs(target)
        flags = _flags(target)
        assert flags & FS_TOPDIR_FL and flags & 0x80, hex(flags)
    # tmpfs refuses the flag: no error, nothing changed, the folder still usable.
    shm = Path(tempfile.mkdtemp(prefix=f"berth-spread-{os.getpid()}-", dir="/dev/shm"))
    try:
        spread_subdirs(shm)
        (shm / "sub").mkdir()
        assert (shm / "sub").is_dir()
    finally:
        subprocess.run(["rm", "-rf", str(shm)], check=False)
