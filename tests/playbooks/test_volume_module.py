"""berth.engine.volume against localhost: check mode, create, idempotence, diff, recreate
policies, errors naming the option, removal."""
from __future__ import annotations

import os

import pytest

from tests.fixtures.modules import REPO, assert_ok, run_playbook

pytestmark = pytest.mark.root


def test_volume_module(paths):
    proc = run_playbook(paths, REPO / "tests/playbooks/volume/volume.yml", {"vol_name": f"pbvol{os.getpid()}"})
    assert_ok(proc)
    assert not (paths.volumes.exists() and os.listdir(paths.volumes))
    with open("/proc/self/mountinfo") as f:
        assert str(paths.root) not in f.read()
