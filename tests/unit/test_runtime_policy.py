"""Pure pieces of the monitor and the launcher: restart decisions, back-off, signals, options."""
from __future__ import annotations

import os
import signal
import stat

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    CommandNotFound,
    CommandNotInvokable,
    InvalidSpec,
    RuntimeFailure,
)
from ansible_collections.berth.engine.plugins.module_utils.runtime import console, launcher, mounts
from ansible_collections.berth.engine.plugins.module_utils.runtime import protocol as proto
from ansible_collections.berth.engine.plugins.module_utils.runtime import syscalls as sc
from ansible_collections.berth.engine.plugins.module_utils.runtime.policy import (
    next_backoff,
    should_restart,
    signal_number,
)


@pytest.mark.parametrize("policy,code,count,stopped,expected", [
    ({"name": "no"}, 1, 0, False, False),
    ({"name": "always"}, 0, 5, False, True),
    ({"name": "always"}, 0, 0, True, False),
    ({"name": "unless-stopped"}, 3, 0, False, True),
    ({"name": "on-failure", "max_retries": 2}, 1, 0, False, True),
    ({"name": "on-failure", "max_retries": 2}, 1, 1, False, True),
    ({"name": "on-failure", "max_retries": 2}, 1, 2, False, False),
    ({"name": "on-failure", "max_retries": 0}, 1, 99, False, True),
    ({"name": "on-failure", "max_retries": 2}, 0, 0, False, False),
    ({}, 1, 0, False, False),
])
def test_should_restart(policy, code, count, stopped, expected):
    assert should_restart(policy, code, count, stopped) is expected


def test_backoff_doubles_caps_and_resets():
    seq = [0.0]
    for _ in range(12):
        seq.append(next_backoff(seq[-1], 0.5))
    assert seq[1:5] == [0.1, 0.2, 0.4, 0.8]
    assert max(seq) == 60.0
    assert next_backoff(25.6, 10.0) == 0.1   # a run of 10 s or more resets the delay


def test_signal_names():
    assert signal_number("SIGTERM") == signal.SIGTERM
    assert signal_number("kill") == signal.SIGKILL
    assert signal_number("9") == 9
    assert signal_number(None) == signal.SIGTERM
    assert signal_number("SIGRTMIN+3") == signal.SIGRTMIN + 3
    with pytest.raises(AttributeError):
        signal_number("SIGNOPE")


def test_mount_options():
    flags, prop, data = mounts.parse_options(["nosuid", "noexec", "ro", "mode=755", "size=1m", "rprivate"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_RDONLY
    assert prop == sc.MS_PRIVATE | sc.MS_REC
    assert data == ["mode=755", "size=1m"]
    flags, _, _ = mounts.parse_options(["ro", "rw", "rbind"])
    assert flags == sc.MS_BIND | sc.MS_REC


def test_rootfs_targets_stay_inside(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "etc/hosts").symlink_to(outside / "hosts")
    (root / "data").symlink_to("/etc")                    # absolute: inside the rootfs
    (root / "up").symlink_to("../../../../outside")
    os.mkfifo(root / "etc/resolv.conf")
    rf = mounts.Rootfs(str(root))
    try:
        # engine-owned: replaced by a regular file, never followed, never opened as a FIFO
        for target in ("/etc/hosts", "/etc/resolv.conf"):
            fd = rf.open_target(target, want_dir=False)
            assert stat.S_ISREG(os.fstat(fd).st_mode)
            os.close(fd)
        assert not (outside / "hosts").exists()
        # a user target through a symlink resolves inside the rootfs
        fd = rf.open_target("/data/sub", want_dir=True)
        os.close(fd)
        assert (root / "etc/sub").is_dir()
        fd = rf.open_target("/up/x", want_dir=True)
        os.close(fd)
        assert (root / "outside/x").is_dir() and not (outside / "x").exists()
        with pytest.raises(RuntimeFailure):
            rf.open_target("/a/../../b", want_dir=True)
        (root / "file").write_text("x")
        with pytest.raises(RuntimeFailure):
            rf.open_target("/file", want_dir=True)    # a user mount does not replace image content
    finally:
        rf.close()


def test_lookpath_and_errors(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tool").write_text("#!/bin/sh\n")
    (bindir / "tool").chmod(0o755)
    (bindir / "noexec").write_text("x")
    env = [f"PATH={bindir}"]
    assert launcher.lookpath("tool", env) == f"{bindir}/tool"
    with pytest.raises(launcher._Report) as nf:
        launcher.lookpath("missing", env)
    assert nf.value.kind == "not_found"
    assert str(nf.value) == 'exec: "missing": executable file not found in $PATH'
    with pytest.raises(launcher._Report) as ni:
        launcher.lookpath("noexec", env)
    assert ni.value.kind == "not_invokable"
    with pytest.raises(CommandNotFound):
        launcher.raise_report(b'{"kind": "not_found", "msg": "x"}')
    with pytest.raises(CommandNotInvokable):
        launcher.raise_report(b'{"kind": "not_invokable", "msg": "x"}')
    with pytest.raises(RuntimeFailure):
        launcher.raise_report(b"garbage")


@pytest.mark.parametrize("name,ok", [("web-1", True), ("a.b.c", True), ("-bad", False),
                                     ("bad_", False), ("x" * 64, False), ("", False)])
def test_hostname_rfc1123(name, ok):
    if ok:
        assert launcher._check_hostname(name) == name
    else:
        with pytest.raises(RuntimeFailure):
            launcher._check_hostname(name)


def test_exit_code_of_signals():
    assert launcher.exit_code_of(3 << 8) == 3
    assert launcher.exit_code_of(signal.SIGKILL) == 137


def test_frames_round_trip():
    r = proto.FrameReader()
    data = proto.frame(proto.STDOUT, b"abc") + proto.control({"exit": 3}) + proto.frame(proto.STDERR, b"")
    frames = []
    for i in range(len(data)):  # byte by byte: any split of the stream works
        frames += r.feed(data[i:i + 1])
    assert frames == [(proto.STDOUT, b"abc"), (proto.CONTROL, b'{"exit":3}'), (proto.STDERR, b"")]
    with pytest.raises(ValueError):
        proto.FrameReader().feed(bytes([1, 0, 0, 0, 0x7F, 0, 0, 0]))


def test_detach_keys():
    assert console.parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert console.parse_detach_keys("a,ctrl-[") == b"a\x1b"
    with pytest.raises(InvalidSpec):
        console.parse_detach_keys("ctrl-foo")
    d = console._Detacher(b"\x10\x11")
    assert d.feed(b"ab\x10") == (b"ab", False)     # a partial match is held back
    assert d.feed(b"c") == (b"\x10c", False)       # and released when it turns out not to be one
    assert d.feed(b"\x10\x11rest") == (b"", True)


def test_sealed_imports_cannot_load_files():
    """After seal_imports a forgotten lazy import fails instead of reading the image's files."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            launcher.seal_imports()
            try:
                import xml.dom.minidom  # noqa: F401 - a module nothing here has loaded
                code = 1
            except ImportError:
                import json  # noqa: F401 - already loaded modules still resolve
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_exec_process_inherits_the_container_s():
    from ansible_collections.berth.engine.plugins.module_utils.runtime.exec import process_for_exec

    spec = {"process": {"user": {"uid": 1000, "gid": 1000}, "cwd": "/app", "env": ["A=1"],
                        "capabilities": {"bounding": ["CAP_KILL"]}, "noNewPrivileges": True,
                        "args": ["server"], "terminal": True}}
    got = process_for_exec(spec, {"args": ["sh"], "user": {"uid": 0, "gid": 0}, "cwd": None})
    assert got == {"args": ["sh"], "user": {"uid": 0, "gid": 0}, "cwd": "/app", "env": ["A=1"],
                   "capabilities": {"bounding": ["CAP_KILL"]}, "noNewPrivileges": True}
