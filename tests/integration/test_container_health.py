"""Healthchecks run by the monitor: the image's HEALTHCHECK and --health-* overrides, State.Health
in inspect and ps, wait_healthy, timeouts, and --no-healthcheck."""
from __future__ import annotations

import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import BerthError, Conflict

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root
MS = 1_000_000


def _health(engine, ref: str) -> dict:
    return engine.containers.inspect(ref)["State"].get("Health") or {}


def _until(predicate, limit: float = 30.0):
    """Poll ``predicate`` (a hang guard, not a speed assertion)."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not met within {limit}s"
        time.sleep(0.05)


@pytest.fixture
def hcimage(cengine, busybox_layer):
    fx.add_rootfs_image(cengine, busybox_layer, "hc:latest", {
        "Healthcheck": {"Test": ["CMD-SHELL", "test -e /tmp/ready && echo fine"], "Interval": 100 * MS,
                        "Timeout": 5000 * MS, "Retries": 3}})
    return cengine


def test_image_healthcheck_becomes_healthy_and_shows_in_ps(hcimage):
    cid = out(run_cli(hcimage, "run", "-d", "--name", "hc1", "hc", "sh", "-c", "touch /tmp/ready; sleep 60")).strip()
    got = hcimage.containers.wait_healthy("hc1", timeout=30)
    assert got["Status"] == "healthy" and got["FailingStreak"] == 0
    last = got["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n" and last["Start"] <= last["End"]
    assert "(healthy)" in out(run_cli(hcimage, "ps", "--filter", f"id={cid}"))
    assert out(run_cli(hcimage, "ps", "-q", "--filter", "health=healthy")).split() == [cid[:12]]
    assert hcimage.containers.wait("hc1", condition="healthy", timeout=5) == 0


def test_failing_check_turns_unhealthy_and_wait_fails(cengine):
    cp = run_cli(cengine, "run", "-d", "--name", "sick", "--health-cmd", "echo nope; exit 3",
                 "--health-interval", "100ms", "--health-retries", "2", "busybox", "sleep", "60")
    assert cp.returncode == 0, cp.stderr
    health = _until(lambda: (_health(cengine, "sick").get("Status") == "unhealthy") and _health(cengine, "sick"))
    assert health["FailingStreak"] >= 2
    assert all(e["ExitCode"] == 3 and e["Output"] == "nope\n" for e in health["Log"])
    _until(lambda: len(_health(cengine, "sick")["Log"]) == 5)  # keeps probing, keeps five
    with pytest.raises(Conflict, match="unhealthy.*nope"):
        cengine.containers.wait_healthy("sick", timeout=30)
    assert "(unhealthy)" in out(run_cli(cengine, "ps"))


def test_start_period_and_starting_status(cengine):
    run_cli(cengine, "run", "-d", "--name", "slow", "--health-cmd", "false", "--health-interval", "100ms",
            "--health-retries", "1", "--health-start-period", "1h", "busybox", "sleep", "60")
    _until(lambda: len(_health(cengine, "slow").get("Log") or []) >= 3)
    health = _health(cengine, "slow")
    assert health["Status"] == "starting" and health["FailingStreak"] == 0  # the start period shields
    assert "(health: starting)" in out(run_cli(cengine, "ps"))
    with pytest.raises(BerthError, match="did not become healthy"):
        cengine.containers.wait_healthy("slow", timeout=0.3)


def test_probe_past_its_timeout_is_killed(cengine):
    run_cli(cengine, "run", "-d", "--name", "hang", "--health-cmd", "sleep 30", "--health-interval", "100ms",
            "--health-timeout", "200ms", "--health-retries", "1", "busybox", "sleep", "60")
    health = _until(lambda: (_health(cengine, "hang").get("Status") == "unhealthy") and _health(cengine, "hang"))
    assert health["Log"][0]["ExitCode"] == -1
    assert health["Log"][0]["Output"] == "Health check exceeded timeout (200ms)"


def test_no_healthcheck_disables_the_images(hcimage):
    run_cli(hcimage, "run", "-d", "--name", "plain", "--no-healthcheck", "hc", "sleep", "60")
    assert "Health" not in hcimage.containers.inspect("plain")["State"]
    with pytest.raises(Conflict, match="no healthcheck"):
        hcimage.containers.wait_healthy("plain", timeout=1)


def test_stopped_container_reports_unhealthy_and_restart_starts_over(hcimage):
    run_cli(hcimage, "run", "-d", "--name", "cyc", "hc", "sh", "-c", "touch /tmp/ready; sleep 60")
    hcimage.containers.wait_healthy("cyc", timeout=30)
    assert run_cli(hcimage, "stop", "-t", "0", "cyc").returncode == 0
    assert _health(hcimage, "cyc")["Status"] == "unhealthy"
    with pytest.raises(Conflict, match="not running"):
        hcimage.containers.wait_healthy("cyc", timeout=5)
    assert run_cli(hcimage, "start", "cyc").returncode == 0
    assert _health(hcimage, "cyc")["Status"] in ("starting", "healthy")
    assert hcimage.containers.wait_healthy("cyc", timeout=30)["Status"] == "healthy"


def test_paused_container_with_a_check_unpauses_and_removes(cengine):
    run_cli(cengine, "run", "-d", "--name", "frz", "--health-cmd", "true", "--health-interval", "100ms",
            "busybox", "sleep", "300")
    cengine.containers.wait_healthy("frz", timeout=30)
    assert run_cli(cengine, "pause", "frz").returncode == 0
    assert run_cli(cengine, "unpause", "frz").returncode == 0
    seen = len(_health(cengine, "frz")["Log"])
    first = _health(cengine, "frz")["Log"][-1]["Start"]
    _until(lambda: _health(cengine, "frz")["Log"][-1]["Start"] != first)  # probes resumed
    assert seen >= 1
    assert run_cli(cengine, "pause", "frz").returncode == 0
    cp = run_cli(cengine, "rm", "-f", "frz", timeout=60)                     # no hang on a frozen probe
    assert cp.returncode == 0, cp.stderr
