"""The layer extractor against the real filesystem: fidelity, whiteouts, compression, hostile input."""
from __future__ import annotations

import io
import os
import stat

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    BerthError,
    InvalidSpec,
    LimitExceeded,
    UnsafeContent,
)
from ansible_collections.berth.engine.plugins.module_utils.store import layerdiff, layers
from ansible_collections.berth.engine.plugins.module_utils.store.tarstream import Limits

from tests.fixtures import images as fx
from tests.fixtures.images import TarBuilder, hostile_layers, snapshot_tree

outside_dir = fx.outside_dir

pytestmark = pytest.mark.root


def _extract(data: bytes, dest, **kw):
    dest.mkdir(exist_ok=True)
    return layers.extract(io.BytesIO(data), dest, **kw)


def test_fidelity_modes_owners_devices_xattrs_times(tmp_path):
    tb = (TarBuilder().dir("bin", mode=0o755).file("bin/su", b"#!", mode=0o4755, uid=0, gid=0)
          .file("bin/sg", b"x", mode=0o2755, uid=1000, gid=50)
          .dir("tmp", mode=0o1777).dir("ro", mode=0o555).file("ro/f", b"ro", mode=0o444, uid=4242, gid=4343)
          .file("bin/ping", b"ping", mode=0o755, xattrs={"security.capability": "\x01\x00\x00\x02 \x00\x00\x00"
                                                        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                                                        "user.note": "hello", "trusted.evil": "y"})
          .device("dev/null", b"3", 1, 3).device("dev/sda", b"4", 8, 0, 0o660).fifo("run/fifo", 0o600)
          .symlink("lib", "usr/lib", uid=7, gid=8).hardlink("bin/su2", "bin/su")
          .file("usr/lib/x", b"y" * 5000, mtime=1_600_000_000))
    info = _extract(tb.bytes(), tmp_path / "t")
    t = tmp_path / "t"
    assert stat.S_IMODE(os.lstat(t / "bin/su").st_mode) == 0o4755
    st = os.lstat(t / "bin/sg")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o2755, 1000, 50)
    assert stat.S_IMODE(os.lstat(t / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(t / "ro").st_mode) == 0o555
    st = os.lstat(t / "ro/f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 4343, 0o444)
    dev = os.lstat(t / "dev/null")
    assert stat.S_ISCHR(dev.st_mode) and (os.major(dev.st_rdev), os.minor(dev.st_rdev)) == (1, 3)
    assert stat.S_ISBLK(os.lstat(t / "dev/sda").st_mode)
    assert stat.S_ISFIFO(os.lstat(t / "run/fifo").st_mode)
    link = os.lstat(t / "lib")
    assert stat.S_ISLNK(link.st_mode) and os.readlink(t / "lib") == "usr/lib" and link.st_uid == 7
    assert os.lstat(t / "bin/su2").st_ino == os.lstat(t / "bin/su").st_ino
    assert os.lstat(t / "usr/lib/x").st_mtime == 1_600_000_000
    assert os.lstat(t / "bin").st_mtime == 1_700_000_000   # set after its entries were written
    names = os.listxattr(t / "bin/ping")
    assert "security.capability" in names and "user.note" in names
    assert not any(n.startswith("trusted.") for n in names)
    assert info.size == 2 + 1 + 2 + 4 + 5000
    assert info.entries == 13


@pytest.mark.parametrize("compress", ["none", "gzip", "zstd", "xz", "bzip2"])
def test_compressions_and_diff_id(tmp_path, compress):
    import bz2
    import hashlib
    import lzma
    raw = TarBuilder().dir("etc").file("etc/hostname", b"box\n").file("big", os.urandom(300_000)).bytes()
    data = {"none": lambda b: b, "gzip": __import__("gzip").compress,
            "zstd": lambda b: __import__("zstandard").ZstdCompressor().compress(b),
            "xz": lzma.compress, "bzip2": bz2.compress}[compress](raw)
    info = _extract(data, tmp_path / "t")
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert info.compression == compress
    assert (tmp_path / "t/etc/hostname").read_bytes() == b"box\n"


def test_truncated_and_garbage_fail(tmp_path):
    raw = TarBuilder().file("f", os.urandom(10_000)).bytes()
    with pytest.raises(InvalidSpec):
        _extract(__import__("gzip").compress(raw)[:-200], tmp_path / "a")
    with pytest.raises(InvalidSpec):
        _extract(raw[:1500], tmp_path / "b")
    with pytest.raises(InvalidSpec):
        _extract(b"this is not a tar archive at all" * 40, tmp_path / "c")


def test_whiteouts_become_overlay_whiteouts(tmp_path):
    data = (TarBuilder().dir("etc").file("etc/.wh.passwd").dir("var").file("var/.wh..wh..opq")
            .file("var/new", b"n").file(".wh..wh.plnk").bytes())
    _extract(data, tmp_path / "t")
    wh = os.lstat(tmp_path / "t/etc/passwd")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(tmp_path / "t/var", "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "t/var/new").read_bytes() == b"n"
    assert not os.path.lexists(tmp_path / "t/.wh..wh.plnk")


def test_later_entries_replace_earlier_ones(tmp_path):
    data = (TarBuilder().file("a", b"first").symlink("b", "/etc").dir("c").file("c/x", b"1")
            .file("a", b"second").dir("b").file("c", b"now a file").bytes())
    _extract(data, tmp_path / "t")
    assert (tmp_path / "t/a").read_bytes() == b"second"
    assert os.path.isdir(tmp_path / "t/b") and not os.path.islink(tmp_path / "t/b")
    assert (tmp_path / "t/c").read_bytes() == b"now a file"


def test_hardlink_write_does_not_change_the_link_target(tmp_path):
    data = TarBuilder().file("a", b"A").hardlink("b", "a").file("b", b"B").bytes()
    _extract(data, tmp_path / "t")
    assert (tmp_path / "t/a").read_bytes() == b"A" and (tmp_path / "t/b").read_bytes() == b"B"


@pytest.mark.parametrize("case", sorted(hostile_layers("/x")))
def test_hostile_layers_fail_cleanly(tmp_path, outside_dir, case):
    before = snapshot_tree(tmp_path, exclude=tmp_path / "t")
    target = tmp_path / "t"
    failed = False
    for i, data in enumerate(hostile_layers(str(outside_dir))[case]):
        dest = target / str(i)
        dest.mkdir(parents=True)
        try:
            layers.extract(io.BytesIO(data), dest)
        except (UnsafeContent, LimitExceeded, InvalidSpec, BerthError):
            failed = True
            break
    after = snapshot_tree(tmp_path, exclude=target)
    assert after == before, f"{case} changed something outside the target"
    assert (outside_dir / "victim").read_bytes() == b"original"
    assert not (outside_dir / "escape").exists()
    if case == "symlink-earlier-layer":
        # each layer has its own folder: the link of layer 0 is not there to follow in layer 1
        assert (target / "1/link/escape").is_file() and os.path.islink(target / "0/link")
    elif case == "symlink-then-file-same-path":
        # the file replaces the link; the link's target is not written
        assert not os.path.islink(target / "0/x") and (target / "0/x").read_bytes() == b"overwrite"
    elif case == "symlink-then-chmod-through":
        # the directory entry replaces the link (tar semantics); the file lands inside it
        assert not os.path.islink(target / "0/d") and (target / "0/d/escape").is_file()
        assert stat.S_IMODE(os.lstat(outside_dir).st_mode) == 0o755
    else:
        assert failed, f"{case} was accepted"


def test_limits(tmp_path):
    many = TarBuilder()
    for i in range(20):
        many.file(f"f{i}", b"x")
    with pytest.raises(LimitExceeded, match="max_entries"):
        _extract(many.bytes(), tmp_path / "a", limits=Limits(max_entries=10))
    with pytest.raises(LimitExceeded, match="max_bytes"):
        _extract(TarBuilder().file("big", b"\0" * 3_000_000).gzip(), tmp_path / "b", limits=Limits(max_bytes=1_000_000))
    with pytest.raises(LimitExceeded, match="max_path"):
        _extract(TarBuilder().file("/".join(["p" * 50] * 30), b"x").bytes(), tmp_path / "c",
                 limits=Limits(max_path=1000))
    big_pax = TarBuilder().file("f", b"x", xattrs={"user.big": "v" * 5000}).bytes()
    with pytest.raises(LimitExceeded, match="max_header"):
        _extract(big_pax, tmp_path / "d", limits=Limits(max_header=1024))


def test_write_layer_is_deterministic_and_round_trips(tmp_path):
    data = (TarBuilder().dir("etc").file("etc/a", b"a" * 1000, mode=0o600, uid=5, gid=6)
            .file("bin/s", b"s", mode=0o4755).symlink("l", "etc/a").hardlink("etc/b", "etc/a")
            .device("dev/zero", b"3", 1, 5).file("etc/" + "long" * 40, b"long name")
            .file("opq/.wh..wh..opq").file("opq/keep", b"k").file("etc/.wh.gone").bytes())
    src = tmp_path / "src"
    _extract(data, src)
    out1, out2 = io.BytesIO(), io.BytesIO()
    w1 = layerdiff.write_layer(src, out1)
    w2 = layerdiff.write_layer(src, out2)
    assert w1.diff_id == w2.diff_id and out1.getvalue() == out2.getvalue()
    names = [m.name for m in __import__("tarfile").open(fileobj=io.BytesIO(out1.getvalue()))]
    assert "etc/.wh.gone" in names and "opq/.wh..wh..opq" in names
    info = _extract(out1.getvalue(), tmp_path / "again")
    assert info.diff_id == w1.diff_id
    assert snapshot_tree(src).keys() == {str(p).replace(str(tmp_path / "again"), str(src))
                                         for p in snapshot_tree(tmp_path / "again")}
    st = os.lstat(tmp_path / "again/etc/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    gz = layerdiff.write_layer(src, io.BytesIO(), compress="gzip")
    assert gz.diff_id == w1.diff_id and gz.digest != w1.diff_id
