"""Life cycle through the monitor: attach and terminals, logs, restart policies, pause, exec."""
from __future__ import annotations

import os
import threading

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import CommandNotFound, Conflict
from ansible_collections.berth.engine.plugins.module_utils.runtime import logs as logmod

from ..fixtures.runtime import (  # noqa: F401 - fixtures
    busybox_lower,
    create,
    read_log_text,
    rootfs,
    run_to_exit,
    runtime,
    wait_for,
)

pytestmark = pytest.mark.root


def _read_pipe(fd: int) -> bytes:
    out = b""
    while True:
        b = os.read(fd, 65536)
        if not b:
            return out
        out += b


def test_tty_gives_a_real_terminal(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sh", "-c", "tty; stty size"], opts={"tty": True}, tty=True)
    r, w = os.pipe()
    try:
        code = runtime.attach(cid, stdout=w, start=True)
    finally:
        os.close(w)
    out = _read_pipe(r).decode()
    os.close(r)
    assert code == 0
    assert out.splitlines()[0].strip() == "/dev/pts/0"
    assert "/dev/pts/0" in read_log_text(paths, cid)


def test_attach_with_stdin_and_separate_streams(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sh", "-c", "read line; echo got:$line; echo oops >&2; exit 4"],
                 opts={"open_stdin": True, "stdin_once": True})
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.write(in_w, b"hello\n")
    os.close(in_w)
    try:
        code = runtime.attach(cid, stdin=in_r, stdout=out_w, stderr=err_w, start=True)
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    assert code == 4
    assert _read_pipe(out_r) == b"got:hello\n"
    assert _read_pipe(err_r) == b"oops\n"
    os.close(out_r)
    os.close(err_r)


def test_logs_rotate_and_read_back(runtime, paths, rootfs):  # noqa: F811
    cid, code, _ = run_to_exit(runtime, paths, rootfs,
                               ["sh", "-c", "i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); done; "
                                            "echo to-stderr >&2"],
                               opts={"log": {"path": str(paths.containers / "x.log"), "max_size": 400,
                                             "max_file": 3}})
    assert code == 0
    files = logmod.log_files(str(paths.containers / "x.log"))
    assert [os.path.basename(f) for f in files] == ["x.log.2", "x.log.1", "x.log"]
    assert all(os.path.getsize(f) <= 400 for f in files)
    # The newest records survive rotation, in order, across the files.
    recs = list(runtime.logs(cid))
    texts = [d.decode() for _, _, d in recs]
    assert texts[-1] == "to-stderr\n" and recs[-1][0] == "stderr"
    nums = [int(t.split("-")[1]) for t in texts[:-1]]
    assert nums == list(range(nums[0], 60)) and nums[0] > 0
    tail = [d.decode() for _, _, d in runtime.logs(cid, tail=3)]
    assert tail == ["line-58\n", "line-59\n", "to-stderr\n"]


def test_restart_on_failure_stops_after_max_retries(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sh", "-c", "echo run; exit 1"],
                 opts={"restart": {"name": "on-failure", "max_retries": 2}})
    runtime.start(cid)
    assert runtime.wait(cid) == 1
    st = runtime.state(cid)
    assert st["Status"] == "exited" and st["RestartCount"] == 2 and st["ExitCode"] == 1
    assert read_log_text(paths, cid) == "run\n" * 3


def test_restart_always_restarts_until_stopped(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sh", "-c", "echo run; sleep 0.2"],
                 opts={"restart": {"name": "always", "max_retries": 0}})
    runtime.start(cid)
    wait_for(lambda: runtime.state(cid)["RestartCount"] >= 2)
    runtime.stop(cid, timeout=5)
    st = runtime.state(cid)
    assert st["Status"] == "exited" and not st["Restarting"]
    count = st["RestartCount"]
    # The monitor left after the stop: nothing is left to restart it.
    assert runtime.wait(cid) == st["ExitCode"]
    assert runtime.state(cid)["RestartCount"] == count
    assert not (paths.run_containers / cid / "monitor.sock").exists()


def test_stop_is_not_restarted_and_uses_the_timeout(runtime, paths, rootfs):  # noqa: F811
    # A shell that ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
    cid = create(paths, rootfs, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"],
                 opts={"restart": {"name": "always", "max_retries": 0}})
    runtime.start(cid)
    wait_for(lambda: "ready" in read_log_text(paths, cid))
    runtime.stop(cid, timeout=0.5)
    st = runtime.state(cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and st["RestartCount"] == 0


def test_sigterm_stop_exit_code(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"], opts={"init": True})
    runtime.start(cid)
    runtime.stop(cid, timeout=10)
    # The reaper forwards SIGTERM to sleep, which dies of it: 128 + 15.
    assert runtime.state(cid)["ExitCode"] == 143


def test_exec_sees_the_container(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"], hostname="exec-host")
    runtime.start(cid)
    r, w = os.pipe()
    try:
        code = runtime.exec(cid, {"args": ["sh", "-c", "hostname; echo $$; cat /proc/1/cmdline; exit 7"],
                                  "env": ["PATH=/bin"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0}},
                            stdout=w, stderr=w)
    finally:
        os.close(w)
    out = _read_pipe(r).decode().split("\n")
    os.close(r)
    assert code == 7
    assert out[0] == "exec-host"
    assert 1 < int(out[1]) < 100           # a pid of the container's namespace
    assert out[2].startswith("sleep")
    with pytest.raises(CommandNotFound):
        runtime.exec(cid, {"args": ["nope"], "env": ["PATH=/bin"], "cwd": "/"})
    runtime.kill(cid)
    runtime.wait(cid)
    with pytest.raises(Conflict):
        runtime.exec(cid, {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"})


def test_pause_and_resume(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sh", "-c", "while :; do sleep 0.05; done"])
    pid = runtime.start(cid)
    runtime.pause(cid)
    st = runtime.state(cid)
    assert st["Status"] == "paused" and st["Paused"] and st["Running"]
    with open(f"/proc/{pid}/status") as f:
        assert any(line.startswith("State:") and ("D" in line or "T" in line or "S" in line) for line in f)
    assert runtime._cgroup(cid).frozen()
    with pytest.raises(Conflict):
        runtime.pause(cid)
    runtime.resume(cid)
    assert runtime.state(cid)["Status"] == "running"
    assert not runtime._cgroup(cid).frozen()
    runtime.stop(cid, timeout=1)
    assert runtime.state(cid)["Status"] == "exited"


def test_top_lists_the_container_processes(runtime, paths, rootfs):  # noqa: F811
    from ansible_collections.berth.engine.plugins.module_utils.runtime.service import pids_in_namespace

    cid = create(paths, rootfs, ["sh", "-c", "sleep 1000 & sleep 1000; echo done"])
    pid = runtime.start(cid)
    pids = wait_for(lambda: len(runtime.top(cid)) == 3 and runtime.top(cid))
    assert pid in pids
    assert pids == pids_in_namespace(pid)
    runtime.kill(cid)
    runtime.wait(cid)


def test_twenty_concurrent_starts(runtime, paths, busybox_lower, tmp_path):  # noqa: F811
    from ..conftest import unmount_below
    from ..fixtures.runtime import overlay_rootfs

    roots = [overlay_rootfs(tmp_path / f"c{i}", busybox_lower) for i in range(20)]
    try:
        cids = [create(paths, r, ["sh", "-c", f"echo n={i}"]) for i, r in enumerate(roots)]
        errors: list[BaseException] = []

        def go(cid: str) -> None:
            try:
                runtime.start(cid)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(c,)) for c in cids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for i, cid in enumerate(cids):
            assert runtime.wait(cid) == 0
            assert read_log_text(paths, cid) == f"n={i}\n"
    finally:
        unmount_below(tmp_path)


def test_delete_removes_cgroup_and_bundle(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"])
    runtime.start(cid)
    cg = runtime._cgroup(cid)
    assert cg._cg.exists()
    with pytest.raises(Conflict):
        runtime.delete(cid)
    runtime.delete(cid, force=True)
    assert not cg._cg.exists()
    assert not (paths.run_containers / cid).exists()


def test_oom_kill_is_reported(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
                 resources={"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    runtime.start(cid)
    assert runtime.wait(cid) == 137
    st = runtime.state(cid)
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def test_update_and_stats(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"], resources={"pids": {"limit": 50}})
    runtime.start(cid)
    runtime.update(cid, {"pids": {"limit": 20}}, restart={"name": "always", "max_retries": 0})
    stats = runtime.stats(cid)
    assert stats["pids"] == {"current": 1, "limit": 20}
    assert stats["memory"] and "networks" in stats
    import json

    spec = json.loads((paths.run_containers / cid / "spec.json").read_text())
    assert spec["linux"]["resources"]["pids"]["limit"] == 20
    opts = json.loads((paths.run_containers / cid / "options.json").read_text())
    assert opts["restart"]["name"] == "always"
    runtime.stop(cid, timeout=0.2)
    assert runtime.state(cid)["Status"] == "exited"   # a stop is never restarted


def test_exec_with_a_tty_and_detached(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"], opts={"init": True})
    runtime.start(cid)
    r, w = os.pipe()
    try:
        code = runtime.exec(cid, {"args": ["sh", "-c", "tty; exit 5"], "env": ["PATH=/bin"], "cwd": "/"},
                            tty=True, stdout=w)
    finally:
        os.close(w)
    out = _read_pipe(r).decode()
    os.close(r)
    assert code == 5
    assert out.strip().startswith("/dev/pts/")
    marker = "/tmp/detached-done"
    assert runtime.exec(cid, {"args": ["sh", "-c", f"sleep 0.2; echo ok > {marker}"],
                              "env": ["PATH=/bin"], "cwd": "/"}, detach=True) == 0
    wait_for(lambda: (rootfs / marker.lstrip("/")).exists())
    runtime.kill(cid)
    runtime.wait(cid)


def test_sysctl_and_on_exit(runtime, paths, rootfs, tmp_path):  # noqa: F811
    marker = tmp_path / "on-exit-ran"
    cid = create(paths, rootfs, ["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; exit 2"],
                 opts={"on_exit": ["/bin/sh", "-c", f"echo $0 > {marker}", "final"]})
    spec_path = paths.run_containers / cid / "spec.json"
    import json

    spec = json.loads(spec_path.read_text())
    spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    spec_path.write_text(json.dumps(spec))
    runtime.start(cid)
    assert runtime.wait(cid) == 2
    assert read_log_text(paths, cid) == "1\n"
    wait_for(marker.exists)               # run by the monitor, on the host, after the final exit
    assert marker.read_text() == "final\n"


def test_two_attached_clients_and_detach(runtime, paths, rootfs):  # noqa: F811
    # A terminal: as with Docker, the detach keys are looked for on a tty only.
    cid = create(paths, rootfs, ["sh", "-c", "while read l; do echo got:$l; done"],
                 opts={"open_stdin": True, "stdin_once": False, "tty": True}, tty=True)
    runtime.start(cid)
    results: dict[str, object] = {}
    a_in_r, a_in_w = os.pipe()
    a_out_r, a_out_w = os.pipe()
    b_out_r, b_out_w = os.pipe()
    os.set_blocking(b_out_r, False)
    ta = threading.Thread(target=lambda: results.__setitem__("a", runtime.attach(cid, stdin=a_in_r, stdout=a_out_w)))
    tb = threading.Thread(target=lambda: results.__setitem__("b", runtime.attach(cid, stdout=b_out_w)))
    tb.start()
    ta.start()
    seen = bytearray()

    def b_saw_ping() -> bool:
        os.write(a_in_w, b"ping\n")
        try:
            seen.extend(os.read(b_out_r, 65536))
        except BlockingIOError:
            pass
        return b"got:ping" in seen

    wait_for(b_saw_ping, step=0.05)
    os.write(a_in_w, b"\x10\x11")          # ctrl-p ctrl-q: A detaches, the container goes on
    ta.join(20)
    assert not ta.is_alive() and results["a"] is None
    assert runtime.state(cid)["Running"]
    runtime.kill(cid)
    tb.join(20)
    assert results["b"] == 137
    os.close(a_out_w)
    assert b"got:ping" in _read_pipe(a_out_r)
    for fd in (a_in_r, a_in_w, a_out_r, b_out_r, b_out_w):
        os.close(fd)
