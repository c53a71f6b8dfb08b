"""Isolation and limits: pid namespace, hostname, private writes; OOM kill; pids limit;
restart policies; reconciliation after the monitor is killed."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


def inspect(engine, ref):
    return json.loads(out(run_cli(engine, "container", "inspect", ref)))[0]


def wait_for(pred, tries=600, pause=0.05):
    """Poll a condition a bounded number of times (not a timing assertion)."""
    for _ in range(tries):
        if pred():
            return True
        time.sleep(pause)
    return pred()


def test_own_pid_namespace_hostname_and_files(cengine, tmp_path):
    cp = run_cli(cengine, "run", "--rm", "--hostname", "iso-box", "busybox", "sh", "-c",
                 "echo $$; hostname; ps -o pid | tail -n +2 | wc -l")
    pid1, host, nprocs = out(cp).split()
    assert (pid1, host) == ("1", "iso-box")
    assert int(nprocs) <= 4  # sh, ps and the pipeline: no host process is visible
    a = out(run_cli(cengine, "run", "-d", "--name", "iso-a", "busybox", "sh", "-c",
                    "echo a-secret > /tmp/mine; sleep 60")).strip()
    run_cli(cengine, "run", "-d", "--name", "iso-b", "busybox", "sleep", "60")
    assert wait_for(lambda: run_cli(cengine, "exec", "iso-a", "cat", "/tmp/mine").returncode == 0)
    assert run_cli(cengine, "exec", "iso-b", "cat", "/tmp/mine").returncode != 0
    assert not os.path.exists("/tmp/mine") or open("/tmp/mine").read() != "a-secret\n"
    # the default hostname is the short id
    assert out(run_cli(cengine, "exec", "iso-a", "hostname")).strip() == a[:12]
    # the host's /proc is not the container's
    assert out(run_cli(cengine, "exec", "iso-b", "cat", "/proc/1/cmdline")).startswith("sleep")


def test_read_only_rootfs_and_tmpfs(cengine):
    cp = run_cli(cengine, "run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                 "touch /x 2>/dev/null && echo wrote-root; touch /scratch/y && echo wrote-tmpfs")
    assert out(cp) == "wrote-tmpfs\n"


def test_user_and_capabilities(cengine):
    assert out(run_cli(cengine, "run", "--rm", "-u", "user", "busybox", "id")).startswith("uid=1000(user) gid=1000")
    cp = run_cli(cengine, "run", "--rm", "-u", "ghost", "busybox", "id")
    assert cp.returncode == 125 and b"unable to find user ghost: no matching entries in passwd file" in cp.stderr
    # CAP_NET_ADMIN is not in the default set: changing a link's state is refused
    cp = run_cli(cengine, "run", "--rm", "busybox", "ip", "link", "set", "lo", "down")
    assert cp.returncode != 0
    cp = run_cli(cengine, "run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "ip", "link", "set", "lo", "down")
    assert cp.returncode == 0, cp.stderr


def test_memory_hog_is_oom_killed(cengine):
    cp = run_cli(cengine, "run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
                 "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived")
    assert cp.returncode == 137
    assert b"survived" not in cp.stdout
    st = inspect(cengine, "hog")["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def test_fork_loop_stops_at_pids_limit(cengine):
    cid = out(run_cli(cengine, "run", "-d", "--name", "forker", "--pids-limit", "10", "busybox", "sh", "-c",
                      "for i in $(seq 40); do (sleep 60 &); done; echo loop-done; sleep 60")).strip()
    assert wait_for(lambda: "loop-done" in out(run_cli(cengine, "logs", "forker")))
    logs = run_cli(cengine, "logs", "forker")
    assert b"can't fork" in logs.stderr
    pids = cengine.runtime.top(cid)
    assert 0 < len(pids) <= 10
    assert cengine.runtime.stats(cid)["pids"]["current"] <= 10
    assert os.system("true") == 0  # the host still forks


def test_restart_on_failure_retries_then_stops(cengine):
    run_cli(cengine, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    assert wait_for(lambda: inspect(cengine, "flaky")["RestartCount"] == 2
                    and inspect(cengine, "flaky")["State"]["Status"] == "exited")
    d = inspect(cengine, "flaky")
    assert d["State"]["ExitCode"] == 3


def test_restart_always_and_stop_is_final(cengine):
    run_cli(cengine, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    assert wait_for(lambda: inspect(cengine, "phoenix")["RestartCount"] >= 1)
    assert run_cli(cengine, "stop", "-t", "1", "phoenix").returncode == 0
    assert inspect(cengine, "phoenix")["State"]["Status"] == "exited"
    count = inspect(cengine, "phoenix")["RestartCount"]
    time.sleep(0.5)  # nothing may restart a stopped container; checked, not timed
    assert inspect(cengine, "phoenix")["State"]["Status"] == "exited"
    assert inspect(cengine, "phoenix")["RestartCount"] == count


def test_reconciled_after_monitor_kill(cengine):
    cid = out(run_cli(cengine, "run", "-d", "--name", "orphan", "busybox", "sleep", "60")).strip()
    state = json.loads((cengine.paths.containers / cid / "state.json").read_text())
    os.kill(state["monitor_pid"], signal.SIGKILL)
    os.kill(state["pid"], signal.SIGKILL)
    assert wait_for(lambda: inspect(cengine, "orphan")["State"]["Status"] == "exited")
    assert "Exited" in out(run_cli(cengine, "ps", "-a", "--filter", "name=orphan"))
    # and the container can start again
    assert run_cli(cengine, "start", "orphan").returncode == 0
    assert inspect(cengine, "orphan")["State"]["Status"] == "running"
