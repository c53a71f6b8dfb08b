"""berth.engine.network against localhost: check mode, create, idempotence, diff, re-create,
errors naming the option, removal; the kernel is left as it was found."""
from __future__ import annotations

import os
import random
import subprocess

import pytest
from ansible_collections.berth.engine.plugins.module_utils.network.service import NetworkService

from tests.fixtures.modules import REPO, assert_ok, run_playbook

pytestmark = pytest.mark.root


def test_network_module(paths):
    a, b = random.randint(64, 127), random.randint(0, 254)
    extra = {"net_name": f"pbnet{os.getpid()}", "subnet1": f"10.{a}.{b}.0/24", "gateway1": f"10.{a}.{b}.1",
             "subnet2": f"10.{a}.{b + 1}.0/24", "range2": f"10.{a}.{b + 1}.128/25"}
    svc = NetworkService(paths)
    try:
        proc = run_playbook(paths, REPO / "tests/playbooks/network/network.yml", extra)
        assert_ok(proc)
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
