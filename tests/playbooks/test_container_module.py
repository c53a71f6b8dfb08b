"""berth.engine.container and berth.engine.containers against localhost: check mode, create,
idempotence, re-create on a changed option, in-place limits, stop/start/restart, diff, errors
naming the option, detach=false, comparisons, the one-task form, removal."""
from __future__ import annotations

import pytest

from tests.fixtures.modules import REPO, assert_ok, run_playbook

pytestmark = pytest.mark.root


def test_container_module(paths, busybox_tar):
    proc = run_playbook(paths, REPO / "tests/playbooks/container/container.yml", {"rootfs": str(busybox_tar)})
    assert_ok(proc)
    # the playbook removed what it made
    assert not any(p.name != ".names" for p in (paths.root / "containers").iterdir())


def test_containers_module(paths, busybox_tar):
    proc = run_playbook(paths, REPO / "tests/playbooks/container/containers.yml", {"rootfs": str(busybox_tar)})
    assert_ok(proc)
    assert not any(p.name != ".names" for p in (paths.root / "containers").iterdir())
