"""Volumes on the real kernel: tmpfs, read-only binds, data kept across users, copy-up."""
from __future__ import annotations

import errno
import os
import stat

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict
from ansible_collections.berth.engine.plugins.module_utils.volumes import VolumeService

pytestmark = pytest.mark.root


@pytest.fixture
def volumes(paths):
    svc = VolumeService(paths)
    yield svc
    for name in svc.names():
        svc.remove(name, force=True)
    with open("/proc/self/mountinfo") as f:
        assert str(paths.volumes) not in f.read(), "a volume mount was left behind"


def test_data_survives_its_users(volumes):
    volumes.create("keep")
    first = volumes.mount("keep", user="c1")
    with open(os.path.join(first.source, "notes.txt"), "w") as f:
        f.write("still here")
    volumes.release("keep", "c1")
    second = volumes.mount("keep", user="c2")
    assert second.source == first.source and second.type == "bind" and "rbind" in second.options
    with open(os.path.join(second.source, "notes.txt")) as f:
        assert f.read() == "still here"


def test_tmpfs_volume_is_empty_at_each_first_use(volumes):
    volumes.create("scratch", opts={"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=0750"})
    m = volumes.mount("scratch", user="c1")
    assert volumes.is_mounted("scratch")
    st = os.statvfs(m.source)
    assert st.f_blocks * st.f_frsize == 4 * 1024 * 1024
    assert stat.S_IMODE(os.stat(m.source).st_mode) == 0o750
    with open(os.path.join(m.source, "tmp"), "w") as f:
        f.write("gone soon")
    volumes.mount("scratch", user="c2")          # a second user shares the same mount
    volumes.release("scratch", "c1")
    assert os.listdir(m.source) == ["tmp"]       # c2 still has it
    volumes.release("scratch", "c2")
    assert not volumes.is_mounted("scratch")
    m = volumes.mount("scratch", user="c3")
    assert os.listdir(m.source) == []
    volumes.release("scratch", "c3")


def test_read_only_bind_refuses_writes_and_removal_keeps_the_host_folder(volumes, tmp_path):
    host = tmp_path / "site"
    host.mkdir()
    (host / "index.html").write_text("<h1>hi</h1>")
    volumes.create("site", opts={"type": "none", "device": str(host), "o": "bind,ro"})
    m = volumes.mount("site", user="web")
    assert os.listdir(m.source) == ["index.html"]
    with pytest.raises(OSError) as exc:
        open(os.path.join(m.source, "new.html"), "w")
    assert exc.value.errno == errno.EROFS
    with pytest.raises(Conflict, match=r"remove site: volume is in use - \[web\]"):
        volumes.remove("site", in_use={"site": ["web"]})
    volumes.remove("site")                        # unmounts first, then deletes its own folder
    assert (host / "index.html").read_text() == "<h1>hi</h1>"
    assert not volumes.exists("site")


def test_bind_of_a_missing_folder_fails_naming_the_option(volumes, tmp_path):
    volumes.create("ghost", opts={"type": "none", "device": str(tmp_path / "nope"), "o": "bind"})
    with pytest.raises(Exception, match="driver_options"):
        volumes.mount("ghost", user="c1")
    assert not volumes.is_mounted("ghost")


def test_copy_up_keeps_owners_modes_links_devices_and_xattrs(volumes, tmp_path):
    src = tmp_path / "image-etc"
    (src / "conf.d").mkdir(parents=True)
    (src / "conf.d" / "app.conf").write_text("x=1\n")
    os.chown(src / "conf.d" / "app.conf", 1234, 5678)
    os.chmod(src / "conf.d" / "app.conf", 0o4750)
    os.link(src / "conf.d" / "app.conf", src / "hard")
    os.symlink("/etc/passwd", src / "abs-link")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(src / "fifo")
    os.setxattr(src / "conf.d" / "app.conf", "user.origin", b"image")
    os.setxattr(src / "conf.d" / "app.conf", "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    os.chown(src, 33, 33)
    os.chmod(src, 0o710)
    os.utime(src / "conf.d", (1_000_000, 1_000_000))

    volumes.create("etc")
    assert volumes.populate_if_empty("etc", src) is True
    data = volumes.data_dir("etc")
    st = os.lstat(data / "conf.d" / "app.conf")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o4750)
    assert os.getxattr(data / "conf.d" / "app.conf", "user.origin") == b"image"
    assert os.getxattr(data / "conf.d" / "app.conf", "security.capability")[:4] == bytes.fromhex("01000002")
    assert os.lstat(data / "hard").st_ino == st.st_ino and st.st_nlink == 2
    assert os.readlink(data / "abs-link") == "/etc/passwd"
    assert os.lstat(data / "null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(data / "fifo").st_mode)
    assert int(os.lstat(data / "conf.d").st_mtime) == 1_000_000
    root = os.lstat(data)
    assert (root.st_uid, root.st_gid, stat.S_IMODE(root.st_mode)) == (33, 33, 0o710)

    # Only a new, never-used volume is filled: a second image folder does not go in.
    other = tmp_path / "other"
    other.mkdir()
    (other / "extra").write_text("no")
    assert volumes.populate_if_empty("etc", other) is False
    assert not (data / "extra").exists()


def test_copy_up_skips_a_volume_that_already_has_data_and_fills_a_tmpfs(volumes, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "seed").write_text("seed")
    volumes.create("busy")
    (volumes.data_dir("busy") / "mine").write_text("mine")
    assert volumes.populate_if_empty("busy", src) is False
    assert sorted(os.listdir(volumes.data_dir("busy"))) == ["mine"]

    volumes.create("mem", opts={"type": "tmpfs", "device": "tmpfs"})
    m = volumes.mount("mem", user="c1")
    assert volumes.populate_if_empty("mem", src) is True
    assert (open(os.path.join(m.source, "seed")).read()) == "seed"
    volumes.release("mem", "c1")
