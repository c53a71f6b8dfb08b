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


def test_container_networks(paths, busybox_tar):
    import os
    import random

    from ansible_collections.berth.engine.plugins.module_utils.containers.service import ContainerService
    from ansible_collections.berth.engine.plugins.module_utils.network.service import NetworkService

    a, b = random.randint(64, 127), random.randint(0, 253)
    extra = {"rootfs": str(busybox_tar), "net_a": f"cnA{os.getpid()}", "net_b": f"cnB{os.getpid()}",
             "subnet_a": f"10.{a}.{b}.0/24", "subnet_b": f"10.{a}.{b + 1}.0/24",
             "in_place": hasattr(ContainerService, "network_connect")}
    svc = NetworkService(paths)
    try:
        assert_ok(run_playbook(paths, REPO / "tests/playbooks/container/networks.yml", extra))
    finally:
        for data in svc.list({"type": ["custom"]}):
            svc.remove(data["Id"], force=True)
        svc.teardown()
