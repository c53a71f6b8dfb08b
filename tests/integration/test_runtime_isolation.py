"""Isolation as root on the real kernel: namespaces, mounts, hostile images, descriptors."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import CommandNotFound, CommandNotInvokable

from ..conftest import unmount_below
from ..fixtures.runtime import (  # noqa: F401 - fixtures
    busybox_lower,
    copy_rootfs,
    create,
    read_log_text,
    rootfs,
    run_to_exit,
    runtime,
)

pytestmark = pytest.mark.root


def test_pid_namespace_and_hostname(runtime, paths, rootfs):  # noqa: F811
    _, code, out = run_to_exit(runtime, paths, rootfs,
                               ["sh", "-c", "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'"],
                               hostname="iso-host")
    assert code == 0
    lines = out.split()
    assert lines[0] == "pid=1"
    assert lines[1] == "iso-host"
    assert int(lines[2]) <= 3  # sh, ls, grep: no host process is visible
    assert os.uname().nodename != "iso-host"


def test_writes_are_private(runtime, paths, tmp_path, busybox_lower):  # noqa: F811
    from ..fixtures.runtime import overlay_rootfs

    a = overlay_rootfs(tmp_path / "a", busybox_lower)
    b = overlay_rootfs(tmp_path / "b", busybox_lower)
    try:
        _check_private(runtime, paths, tmp_path, busybox_lower, a, b)
    finally:
        unmount_below(tmp_path)


def _check_private(runtime, paths, tmp_path, busybox_lower, a, b):  # noqa: F811
    marker = f"/tmp/berth-private-{os.getpid()}"
    _, code, _ = run_to_exit(runtime, paths, a, ["sh", "-c", f"echo secret > {marker}"])
    assert code == 0
    _, code, out = run_to_exit(runtime, paths, b, ["sh", "-c", f"cat {marker} || echo absent"])
    assert "absent" in out and "secret" not in out
    assert not os.path.exists(marker)                      # not on the host
    assert not (busybox_lower / marker.lstrip("/")).exists()  # not in the shared image
    assert (tmp_path / "a/upper" / marker.lstrip("/")).read_text() == "secret\n"


def test_only_stdio_descriptors_reach_the_command(runtime, paths, rootfs):  # noqa: F811
    # Looked at from the host, so no descriptor of the looking process gets in the way.
    cid = create(paths, rootfs, ["sleep", "1000"])
    pid = runtime.start(cid)
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    runtime.kill(cid, "SIGKILL")
    assert runtime.wait(cid) == 137


def test_proc_1_exe_cannot_be_opened_for_writing(runtime, paths, rootfs):  # noqa: F811
    probe = "echo x >> /proc/1/exe && echo WROTE || echo REFUSED"
    _, code, out = run_to_exit(runtime, paths, rootfs, ["sh", "-c", probe])
    assert "REFUSED" in out and "WROTE" not in out
    # With --init, pid 1 is the runtime's reaper: non-dumpable, so even its exe link is closed.
    _, code, out = run_to_exit(runtime, paths, rootfs,
                               ["sh", "-c", probe + "; readlink /proc/1/exe || echo NOLINK"],
                               opts={"init": True})
    assert "REFUSED" in out and "WROTE" not in out
    assert "NOLINK" in out


def test_exit_codes(runtime, paths, rootfs):  # noqa: F811
    assert run_to_exit(runtime, paths, rootfs, ["true"])[1] == 0
    assert run_to_exit(runtime, paths, rootfs, ["sh", "-c", "exit 3"])[1] == 3
    cid = create(paths, rootfs, ["sleep", "1000"])
    runtime.start(cid)
    runtime.kill(cid, "SIGKILL")
    assert runtime.wait(cid) == 137
    st = runtime.state(cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]


def test_command_not_found_and_not_invokable(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["no-such-command"])
    with pytest.raises(CommandNotFound) as exc:
        runtime.start(cid)
    assert exc.value.exit_code == 127
    assert 'exec: "no-such-command": executable file not found in $PATH' in str(exc.value)
    st = runtime.state(cid)
    assert st["Status"] == "created" and st["ExitCode"] == 127 and "not found" in st["Error"]
    cid = create(paths, rootfs, ["/etc/passwd"])
    with pytest.raises(CommandNotInvokable) as exc2:
        runtime.start(cid)
    assert exc2.value.exit_code == 126


def test_hostile_symlinks_and_fifo_stay_inside(runtime, paths, tmp_path, busybox_lower):  # noqa: F811
    """/etc/hosts, /proc and /dev as symlinks out of the rootfs, a FIFO at /etc/resolv.conf."""
    root = copy_rootfs(busybox_lower, tmp_path / "hostile")
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "hosts"
    victim.write_text("untouched\n")
    (root / "etc/hosts").symlink_to(victim)            # absolute host path
    os.rmdir(root / "proc")
    (root / "proc").symlink_to(victim_dir)
    os.rmdir(root / "dev")
    (root / "dev").symlink_to("../../../../../../../../" + str(victim_dir).lstrip("/"))
    os.mkfifo(root / "etc/resolv.conf")
    files = tmp_path / "engine-files"
    files.mkdir()
    (files / "hosts").write_text("127.0.0.1 localhost engine-hosts\n")
    (files / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    binds = [{"destination": "/etc/hosts", "type": "bind", "source": str(files / "hosts"),
              "options": ["rbind", "rprivate"]},
             {"destination": "/etc/resolv.conf", "type": "bind", "source": str(files / "resolv.conf"),
              "options": ["rbind", "rprivate"]}]
    _, code, out = run_to_exit(runtime, paths, root,
                               ["sh", "-c", "cat /etc/hosts /etc/resolv.conf; echo pid=$$; ls /dev/null"],
                               mounts=binds)
    assert code == 0, out
    assert "engine-hosts" in out and "192.0.2.53" in out and "pid=1" in out and "/dev/null" in out
    assert victim.read_text() == "untouched\n"
    assert sorted(os.listdir(victim_dir)) == ["hosts"]
    with open("/proc/self/mountinfo") as f:
        assert str(victim_dir) not in f.read()
    # The image's bad entries were replaced inside the rootfs, never followed.
    assert stat.S_ISREG(os.lstat(root / "etc/hosts").st_mode)
    assert stat.S_ISDIR(os.lstat(root / "proc").st_mode)


def test_mount_target_symlink_to_host_etc_resolves_inside(runtime, paths, tmp_path, busybox_lower):  # noqa: F811
    root = copy_rootfs(busybox_lower, tmp_path / "linky")
    (root / "data").symlink_to("/etc")
    src = tmp_path / "vol"
    src.mkdir()
    marker = f"berth-marker-{os.getpid()}"
    (src / marker).write_text("from the volume\n")
    before = subprocess.run(["findmnt", "-n", "/etc"], capture_output=True, text=True).stdout
    _, code, out = run_to_exit(runtime, paths, root, ["sh", "-c", f"cat /etc/{marker}"],
                               mounts=[{"destination": "/data", "type": "bind", "source": str(src),
                                        "options": ["rbind"]}])
    assert code == 0 and "from the volume" in out
    assert not os.path.exists(f"/etc/{marker}")
    assert subprocess.run(["findmnt", "-n", "/etc"], capture_output=True, text=True).stdout == before


def test_read_only_rootfs_and_masked_paths(runtime, paths, rootfs):  # noqa: F811
    _, code, out = run_to_exit(
        runtime, paths, rootfs,
        ["sh", "-c", "touch /x 2>/dev/null && echo WRITABLE || echo RO; "
                     "cat /proc/keys 2>&1 | wc -c; { echo 1 > /proc/sys/kernel/domainname; } 2>/dev/null "
                     "&& echo SYSRW || echo SYSRO"],
        readonly=True)
    assert code == 0
    words = out.split()
    assert words[0] == "RO"
    assert words[1] == "0"          # /proc/keys is /dev/null inside
    assert words[2] == "SYSRO"


def test_user_and_working_directory(runtime, paths, rootfs):  # noqa: F811
    _, code, out = run_to_exit(runtime, paths, rootfs, ["sh", "-c", "id -u; id -g; pwd"],
                               uid=1000, gid=1000, cwd="/home/user/new/dir")
    assert code == 0
    assert out.split() == ["1000", "1000", "/home/user/new/dir"]


def test_joins_a_prepared_network_namespace(runtime, paths, rootfs):  # noqa: F811
    name = f"berth-rt-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        path = f"/run/netns/{name}"
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        want = os.stat(path).st_ino
        _, code, out = run_to_exit(runtime, paths, rootfs, ["sh", "-c", "stat -L -c %i /proc/self/ns/net"],
                                   network=path)
        assert code == 0 and int(out) == want
        _, code, out = run_to_exit(runtime, paths, rootfs, ["sh", "-c", "stat -L -c %i /proc/self/ns/net"])
        assert code == 0 and int(out) not in (want, os.stat("/proc/self/ns/net").st_ino)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
