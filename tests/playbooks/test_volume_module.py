"""berth.engine.volume against localhost: check mode, create, idempotence, diff, recreate
policies, errors naming the option, removal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]


def test_volume_module(paths):
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--diff",
                           str(REPO / "tests/playbooks/volume/volume.yml"),
                           "-e", json.dumps({"vol_name": f"pbvol{os.getpid()}"})],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "failed=0" in proc.stdout
    assert not (paths.volumes.exists() and os.listdir(paths.volumes))
    with open("/proc/self/mountinfo") as f:
        assert str(paths.root) not in f.read()
