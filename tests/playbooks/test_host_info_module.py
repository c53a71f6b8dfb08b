"""berth.engine.host_info against localhost: facts, lists with filters, verbose output, disk usage."""
from __future__ import annotations

import os

import pytest

from tests.fixtures.modules import REPO, assert_ok, run_playbook

pytestmark = pytest.mark.root


def test_host_info_module(paths, busybox_tar):
    proc = run_playbook(paths, REPO / "tests/playbooks/host_info/host_info.yml",
                        {"rootfs": str(busybox_tar), "vol": f"hivol{os.getpid()}"})
    assert_ok(proc)
