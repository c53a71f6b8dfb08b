"""Run state: time formats, Docker's State shape, and the reconciliation table."""
from __future__ import annotations

import os

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
from ansible_collections.berth.engine.plugins.module_utils.runtime.state import (
    ZERO_TIME,
    ContainerState,
    StateStore,
    format_rfc3339,
    parse_rfc3339,
    plan_reconcile,
    proc_start_time,
    process_alive,
)

CID = "ab" * 32


def test_rfc3339_round_trip_and_trimming():
    ns = 1_795_000_000_123_450_000
    text = format_rfc3339(ns)
    assert text.endswith(".12345Z")          # trailing zeros trimmed, as Go's RFC3339Nano
    assert parse_rfc3339(text) == ns
    assert format_rfc3339(1_795_000_000_000_000_000) == "2026-11-18T11:06:40Z"  # no fraction at all
    assert parse_rfc3339("2026-11-23T10:00:00+02:00") == parse_rfc3339("2026-11-23T08:00:00Z")
    assert parse_rfc3339("2026-11-23T08:00:00.5Z") - parse_rfc3339("2026-11-23T08:00:00Z") == 500_000_000


def test_docker_state_shape():
    st = ContainerState(status="paused", pid=42, exit_code=0, restart_count=2)
    d = st.to_docker()
    assert d["Status"] == "paused" and d["Running"] and d["Paused"] and d["Pid"] == 42
    assert d["RestartCount"] == 2 and d["StartedAt"] == ZERO_TIME
    ex = ContainerState(status="exited", pid=42, exit_code=3).to_docker()
    assert not ex["Running"] and ex["Pid"] == 0 and ex["ExitCode"] == 3
    assert set(d) == {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                      "ExitCode", "Error", "StartedAt", "FinishedAt", "RestartCount"}


def test_state_round_trip_ignores_unknown_fields():
    st = ContainerState(status="running", pid=7, pid_start=99, oom_killed=True)
    d = st.to_dict()
    d["future_field"] = 1
    assert ContainerState.from_dict(d) == st


def test_store_writes_atomically_and_rejects_bad_status(tmp_path):
    store = StateStore(Paths(tmp_path / "root", tmp_path / "run"))
    assert store.read(CID).status == "created"
    store.update(CID, status="running", pid=5)
    assert store.read(CID).pid == 5
    assert [p.name for p in store.dir(CID).iterdir()] == ["state.json"]  # no temp files left
    with pytest.raises(ValueError):
        store.write(CID, ContainerState(status="bogus"))
    with pytest.raises(InvalidSpec):
        store.read("../../etc")


def test_proc_start_time_names_one_process():
    me = proc_start_time(os.getpid())
    assert me is not None and me > 0
    assert process_alive(os.getpid(), me)
    assert not process_alive(os.getpid(), me + 1)   # a reused pid has another start time
    assert proc_start_time(0) is None


RUNNING = ContainerState(status="running", pid=10, pid_start=1, monitor_pid=9, monitor_start=1)


@pytest.mark.parametrize("st", [ContainerState(status="exited"), ContainerState(status="created")])
def test_reconcile_leaves_inactive_states_alone(st):
    assert plan_reconcile(st, False, False, None) is None


def test_reconcile_trusts_a_live_monitor():
    assert plan_reconcile(RUNNING, True, False, None) is None


def test_reconcile_dead_monitor_live_process_is_still_running():
    assert plan_reconcile(RUNNING, False, True, None) is None


def test_reconcile_uses_the_recorded_exit():
    fixed = plan_reconcile(RUNNING, False, False, {"code": 137, "oom": True, "pid": 10,
                                                   "time": "2026-11-23T00:00:00Z"})
    assert fixed is not None
    assert fixed.status == "exited" and fixed.exit_code == 137 and fixed.oom_killed
    assert fixed.finished_at == "2026-11-23T00:00:00Z" and fixed.pid == 0 and fixed.error == ""


def test_reconcile_ignores_an_exit_record_of_another_run():
    fixed = plan_reconcile(RUNNING, False, False, {"code": 0, "pid": 77})
    assert fixed is not None and fixed.exit_code == 255 and "lost" in fixed.error


def test_reconcile_restarting_without_monitor_is_exited():
    st = RUNNING.replace(status="restarting", exit_code=1)
    fixed = plan_reconcile(st, False, False, None)
    assert fixed is not None and fixed.status == "exited" and fixed.exit_code == 1
