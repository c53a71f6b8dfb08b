"""The README's demo (playbooks/demo.yml) on a temporary root: every lesson passes and the
play's own cleanup leaves no container, network, volume, mount or registry process behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.modules import REPO, assert_ok, run_playbook
from tests.fixtures.registry import REGISTRY_BIN, free_port

pytestmark = pytest.mark.root


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def test_demo_playbook(paths, tmp_path):
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (scripts/setup.sh installs it)")
    links_before = _links()
    extra = {"demo_dir": str(tmp_path / "demo"), "registry_port": free_port()}
    proc = run_playbook(paths, REPO / "playbooks/demo.yml", extra)
    assert_ok(proc)
    out = proc.stdout
    # Each lesson's evidence, as the play printed it.
    assert "Hello from berth!" in out
    assert "tick 1" in out
    assert "1 packets received" in out
    assert "written at" in out
    # The play's cleanup removed everything it made.
    berth = str(Path(sys.executable).parent / "berth")
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run))
    ps = subprocess.run([berth, "ps", "-aq"], env=env, capture_output=True, text=True, check=True)
    assert ps.stdout.strip() == ""
    vols = subprocess.run([berth, "volume", "ls", "-q"], env=env, capture_output=True, text=True, check=True)
    assert "demo-data" not in vols.stdout.split()
    nets = subprocess.run([berth, "network", "ls", "--format", "{{.Name}}"], env=env, capture_output=True,
                          text=True, check=True)
    assert "demo-net" not in nets.stdout.split()
    assert not (tmp_path / "demo").exists()
    with open("/proc/self/mountinfo") as f:
        assert str(paths.root) not in f.read()
    # Endpoints are gone with their containers; only the bridges (removed by the root's
    # teardown, as dockerd would keep docker0) may remain.
    assert not {n for n in _links() - links_before if n.startswith("veth")}
