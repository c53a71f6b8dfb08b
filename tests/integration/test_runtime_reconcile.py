"""What the runtime says after its own processes die: never a lie about a container."""
from __future__ import annotations

import os
import signal

import pytest
from ansible_collections.berth.engine.plugins.module_utils.runtime import install
from ansible_collections.berth.engine.plugins.module_utils.runtime.state import StateStore, process_alive

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


def _server_pid(paths) -> int:
    return int((paths.run / "monitor.pid").read_text().split()[0])


def _kill_monitor(paths, cid) -> None:
    st = StateStore(paths).read(cid)
    assert process_alive(st.monitor_pid, st.monitor_start)
    os.kill(st.monitor_pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(st.monitor_pid, st.monitor_start))


def test_monitor_killed_container_keeps_running_then_exit_code_is_known(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"])
    pid = runtime.start(cid)
    _kill_monitor(paths, cid)
    st = runtime.state(cid)
    assert st["Status"] == "running" and st["Pid"] == pid and os.path.exists(f"/proc/{pid}")
    # Without its monitor the runtime signals the process itself; the server, its subreaper,
    # records the status, so the exit code is the real one.
    runtime.kill(cid, "SIGKILL")
    wait_for(lambda: runtime.state(cid)["Status"] == "exited")
    st = runtime.state(cid)
    assert st["ExitCode"] == 137 and st["Error"] == ""
    assert runtime.wait(cid) == 137


def test_monitor_and_server_killed_state_is_honest(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["sleep", "1000"])
    pid = runtime.start(cid)
    os.kill(_server_pid(paths), signal.SIGKILL)
    _kill_monitor(paths, cid)
    assert runtime.state(cid)["Status"] == "running"
    # Nobody who could know the exit status is left: say so rather than invent a code.
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: runtime.state(cid)["Status"] == "exited")
    st = runtime.state(cid)
    assert st["ExitCode"] == 255 and "lost" in st["Error"] and not st["Running"]


def test_stop_without_monitor(runtime, paths, rootfs):  # noqa: F811
    # --init: the reaper passes SIGTERM on (a bare `sleep` as pid 1 would ignore it).
    cid = create(paths, rootfs, ["sleep", "1000"], opts={"init": True})
    runtime.start(cid)
    _kill_monitor(paths, cid)
    runtime.stop(cid, timeout=5)
    st = runtime.state(cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 143


def test_server_killed_containers_keep_running(runtime, paths, busybox_lower, tmp_path):  # noqa: F811
    from ..conftest import unmount_below
    from ..fixtures.runtime import overlay_rootfs

    roots = [overlay_rootfs(tmp_path / f"r{i}", busybox_lower) for i in range(3)]
    try:
        a = create(paths, roots[0], ["sleep", "1000"])
        b = create(paths, roots[1], ["sleep", "1000"])
        pa, pb = runtime.start(a), runtime.start(b)
        old = _server_pid(paths)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: not os.path.exists(f"/proc/{old}/status") or
                 "Z" in open(f"/proc/{old}/status").read().split("State:")[1][:4])
        assert runtime.state(a)["Status"] == "running" and runtime.state(b)["Status"] == "running"
        assert os.path.exists(f"/proc/{pa}") and os.path.exists(f"/proc/{pb}")
        # The next start brings up a new server; the old monitors still answer.
        c, code, out = run_to_exit(runtime, paths, roots[2], ["echo", "after"])
        assert code == 0 and out == "after\n"
        assert _server_pid(paths) != old
        # sleep as pid 1 ignores SIGTERM: the stop timeout ends it with SIGKILL.
        runtime.stop(a, timeout=0.2)
        runtime.stop(b, timeout=0.2)
        assert runtime.state(a)["ExitCode"] == 137 and runtime.state(b)["ExitCode"] == 137
    finally:
        unmount_below(tmp_path)


def test_reused_pid_is_not_mistaken_for_the_container(runtime, paths, rootfs):  # noqa: F811
    cid = create(paths, rootfs, ["true"])
    runtime.start(cid)
    runtime.wait(cid)
    store = StateStore(paths)
    # Pretend a crash left "running" with our own pid (alive, but not the container).
    st = store.read(cid)
    store.write(cid, st.replace(status="running", pid=os.getpid(), pid_start=1, monitor_pid=0))
    st2 = runtime.state(cid)
    assert st2["Status"] == "exited" and not st2["Running"]


def test_engine_copy_is_stable_and_complete(paths):
    digest, base = install.ensure_engine_copy(paths)
    pkg = base / install.PACKAGE_PATH
    assert (pkg / "runtime" / "monitor.py").is_file()
    assert (base / "ansible_collections" / "__init__.py").is_file()
    assert (pkg / "cli" / "main.py").is_file()  # the server runs commands (cli/fastpath.py)
    assert install.ensure_engine_copy(paths) == (digest, base)


def test_a_new_monitor_adopts_a_chatty_orphan(runtime, paths, rootfs):  # noqa: F811
    """The server holds the pipes, so the orphan is never killed by SIGPIPE; logs go on."""
    cid = create(paths, rootfs, ["sh", "-c", "i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.02; done"],
                 opts={"init": True})
    pid = runtime.start(cid)
    wait_for(lambda: "tick-3" in read_log_text(paths, cid))
    old = StateStore(paths).read(cid).monitor_pid
    _kill_monitor(paths, cid)
    st = runtime.state(cid)                  # reconciles: still running, and adopted
    assert st["Status"] == "running" and st["Pid"] == pid
    new = StateStore(paths).read(cid).monitor_pid
    assert new and new != old and process_alive(new, StateStore(paths).read(cid).monitor_start)
    seen = read_log_text(paths, cid).count("tick-")
    wait_for(lambda: read_log_text(paths, cid).count("tick-") > seen + 5)
    assert os.path.exists(f"/proc/{pid}")
    runtime.stop(cid, timeout=5)
    st = runtime.state(cid)
    assert st["Status"] == "exited" and st["ExitCode"] == 143 and st["Error"] == ""
