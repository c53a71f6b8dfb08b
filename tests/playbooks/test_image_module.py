"""berth.engine.image against localhost: check mode, import, idempotence, diff, tags, load, absent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_rootfs, tar_of

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]


def run_playbook(paths, playbook: Path, extra: dict) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--diff", str(playbook),
                           "-e", json.dumps(extra)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def test_image_module(paths, busybox_tar, tmp_path):
    other = busybox_rootfs(tmp_path / "rootfs2")
    (other / "etc/motd").write_text("another image\n")
    rootfs2 = tmp_path / "rootfs2.tar"
    rootfs2.write_bytes(tar_of(other))
    extra = {"rootfs": str(busybox_tar), "rootfs2": str(rootfs2), "archive": str(tmp_path / "saved.tar")}
    proc = run_playbook(paths, REPO / "tests/playbooks/image/image.yml", extra)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "failed=0" in proc.stdout
