"""berth.engine.network against localhost: check mode, create, idempotence, diff, re-create,
errors naming the option, removal; the kernel is left as it was found."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.network.service import NetworkService

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]


def run_playbook(paths, playbook: Path, extra: dict) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--diff", str(playbook),
                           "-e", json.dumps(extra)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def test_network_module(paths):
    a, b = random.randint(64, 127), random.randint(0, 254)
    extra = {"net_name": f"pbnet{os.getpid()}", "subnet1": f"10.{a}.{b}.0/24", "gateway1": f"10.{a}.{b}.1",
             "subnet2": f"10.{a}.{b + 1}.0/24", "range2": f"10.{a}.{b + 1}.128/25"}
    svc = NetworkService(paths)
    try:
        proc = run_playbook(paths, REPO / "tests/playbooks/network/network.yml", extra)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "failed=0" in proc.stdout
    finally:
        for data in svc.list({"type": ["custom"]}):
            svc.remove(data["Id"], force=True)
        svc.teardown()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert svc.names.default_bridge not in links
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert f"table ip {svc.names.table}" not in tables
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert f"10.{a}.{b}." not in addrs and f"10.{a}.{b + 1}." not in addrs
