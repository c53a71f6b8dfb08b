"""Healthcheck logic without a kernel: Docker's merge of image and container settings, the
probe's argv, and how each probe result changes State.Health."""
from __future__ import annotations

from ansible_collections.berth.engine.plugins.module_utils.containers import ocispec
from ansible_collections.berth.engine.plugins.module_utils.containers.listing import status_text
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import ContainerSpec, Healthcheck
from ansible_collections.berth.engine.plugins.module_utils.runtime import health as h
from ansible_collections.berth.engine.plugins.module_utils.runtime.state import ContainerState

S = 1_000_000_000
IMAGE = {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 5 * S, "Retries": 4}


def test_merge_container_fields_replace_the_images():
    merged = h.merge(IMAGE, {"Interval": 2 * S})
    assert merged == {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 2 * S, "Retries": 4}
    assert h.merge(IMAGE, {"Test": ["CMD", "true"]})["Test"] == ["CMD", "true"]


def test_none_disables_and_nothing_means_no_check():
    assert h.merge(IMAGE, {"Test": ["NONE"]}) is None
    assert h.merge(None, None) is None
    assert h.merge({"Interval": S}, None) is None  # durations without a test run nothing


def test_probe_argv_forms():
    assert h.probe_argv(["CMD", "pg_isready", "-U", "x"]) == ["pg_isready", "-U", "x"]
    assert h.probe_argv(["CMD-SHELL", "test -f /ok || exit 1"]) == ["/bin/sh", "-c", "test -f /ok || exit 1"]
    assert h.probe_argv(["CMD"]) is None
    assert h.probe_argv(["NONE"]) is None


def test_run_config_defaults_are_dockers():
    cfg = h.run_config({"Test": ["CMD", "true"]}, None)
    assert cfg == {"argv": ["true"], "interval": 30.0, "timeout": 30.0, "start_period": 0.0, "retries": 3}


def _result(code: int, out: str = "") -> dict:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": out}


def test_record_success_failures_and_streak():
    st = h.new_health()
    st = h.record(st, _result(1, "no"), in_start_period=False, retries=2)
    assert st["Status"] == "starting" and st["FailingStreak"] == 1
    st = h.record(st, _result(1, "no"), in_start_period=False, retries=2)
    assert st["Status"] == "unhealthy" and st["FailingStreak"] == 2
    st = h.record(st, _result(0, "ok"), in_start_period=False, retries=2)
    assert st["Status"] == "healthy" and st["FailingStreak"] == 0
    assert [e["Output"] for e in st["Log"]] == ["no", "no", "ok"]


def test_failures_in_the_start_period_do_not_count_until_healthy():
    st = h.record(h.new_health(), _result(1), in_start_period=True, retries=1)
    assert st["Status"] == "starting" and st["FailingStreak"] == 0
    st = h.record(st, _result(0), in_start_period=True, retries=1)
    st = h.record(st, _result(1), in_start_period=True, retries=1)
    assert st["Status"] == "unhealthy"  # once healthy, the start period no longer shields


def test_log_keeps_the_last_five():
    st = h.new_health()
    for n in range(8):
        st = h.record(st, _result(0, str(n)), False, 3)
    assert [e["Output"] for e in st["Log"]] == ["3", "4", "5", "6", "7"]


def test_stopped_container_is_unhealthy():
    assert h.stopped(None) is None
    assert h.stopped({"Status": "healthy", "FailingStreak": 0, "Log": []})["Status"] == "unhealthy"


def test_duration_text_like_go():
    assert h._duration(0.2) == "200ms"
    assert h._duration(30) == "30s"
    assert h._duration(90) == "1m30s"
    assert h._duration(1.5) == "1.5s"


def test_state_carries_health_into_docker_shape():
    st = ContainerState(status="running", health={"Status": "healthy", "FailingStreak": 0, "Log": []})
    assert st.to_docker()["Health"]["Status"] == "healthy"
    assert "Health" not in ContainerState(status="running").to_docker()
    again = ContainerState.from_dict(st.to_dict())
    assert again.health == st.health


def test_ps_status_shows_health():
    base = {"Status": "running", "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z",
            "ExitCode": 0}
    now = 1767225600.0 + 5
    assert status_text(dict(base, Health={"Status": "starting"}), now) == "Up 5 seconds (health: starting)"
    assert status_text(dict(base, Health={"Status": "healthy"}), now) == "Up 5 seconds (healthy)"
    assert status_text(dict(base, Health={"Status": "unhealthy"}), now) == "Up 5 seconds (unhealthy)"


def test_run_options_carry_the_merged_check():
    image = {"Cmd": ["sh"], "Healthcheck": IMAGE}
    spec = ContainerSpec(image="busybox", healthcheck=Healthcheck(interval=S, retries=1))
    opts = ocispec.run_options(spec, image, "/log")
    assert opts["health"] == {"argv": ["/bin/sh", "-c", "curl -f http://localhost/"], "interval": 1.0,
                              "timeout": 30.0, "start_period": 0.0, "retries": 1}
    off = ContainerSpec(image="busybox", healthcheck=Healthcheck(test=("NONE",)))
    assert ocispec.run_options(off, image, "/log")["health"] is None
    assert ocispec.run_options(ContainerSpec(image="busybox"), {"Cmd": ["sh"]}, "/log")["health"] is None
