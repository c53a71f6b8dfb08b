"""plan_container: what the module would do, from the stored spec and the desired one."""
from __future__ import annotations

from dataclasses import replace

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers.ensure import (
    diff_specs,
    flat_spec,
    network_names,
    plan_container,
)
from ansible_collections.berth.engine.plugins.module_utils.containers.records import ContainerRecord
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import (
    ContainerSpec,
    NetworkAttachment,
    Resources,
    RestartPolicy,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

BASE = ContainerSpec(image="busybox", name="web", command=("sleep", "1000"), env=("A=1",))


def rec(spec=BASE, image_id="sha256:" + "1" * 64):
    return ContainerRecord(id="a" * 64, name="web", created="2026-11-23T00:00:00Z", spec=spec, image_id=image_id,
                           image_name=spec.image, image_config={"Cmd": ["sh"], "Env": ["PATH=/bin"]})


def test_same_spec_is_no_change():
    plan = plan_container(rec(), "running", BASE, "started", "sha256:" + "1" * 64)
    assert plan.actions == () and not plan.changed


def test_missing_container_is_created_and_started():
    assert plan_container(None, None, BASE, "started").actions == ("create", "start")
    assert plan_container(None, None, BASE, "present").actions == ("create",)
    assert plan_container(None, None, None, "absent").actions == ()


def test_env_change_recreates():
    new = ContainerSpec(image="busybox", name="web", command=("sleep", "1000"), env=("A=2",))
    plan = plan_container(rec(), "running", new, "started")
    assert plan.actions == ("remove", "create", "start") and plan.differences == ("env",)


def test_resources_and_restart_policy_update_in_place():
    new = ContainerSpec(image="busybox", name="web", command=("sleep", "1000"), env=("A=1",),
                        resources=Resources(memory=64 << 20), restart_policy=RestartPolicy("always"))
    plan = plan_container(rec(), "running", new, "started")
    assert plan.actions == ("update",)
    assert set(plan.differences) == {"resources.memory", "restart_policy"}


def test_image_id_change_recreates_and_ignore_skips_fields():
    plan = plan_container(rec(), "running", BASE, "started", "sha256:" + "2" * 64)
    assert plan.actions == ("remove", "create", "start") and plan.differences == ("image",)
    new = ContainerSpec(image="busybox", name="web", command=("sleep", "1000"), env=("A=2",))
    assert plan_container(rec(), "running", new, "started", ignore=("env",)).actions == ()
    assert diff_specs(BASE, new) == ["env"]


def test_states():
    assert plan_container(rec(), "running", BASE, "stopped").actions == ("stop",)
    assert plan_container(rec(), "exited", BASE, "stopped").actions == ()
    assert plan_container(rec(), "exited", BASE, "started").actions == ("start",)
    assert plan_container(rec(), "running", BASE, "restarted").actions == ("restart",)
    assert plan_container(rec(), "running", None, "absent").actions == ("remove",)
    assert plan_container(rec(), "running", BASE, "started", recreate=True).actions == ("remove", "create", "start")
    with pytest.raises(InvalidSpec, match="invalid state"):
        plan_container(None, None, BASE, "sleeping")


def test_lifting_a_limit_recreates_setting_one_updates():
    limited = replace(BASE, resources=Resources(memory=64 << 20, pids_limit=50))
    assert plan_container(rec(limited), "running", BASE, "started").actions == ("remove", "create", "start")
    tighter = replace(BASE, resources=Resources(memory=32 << 20, pids_limit=50))
    plan = plan_container(rec(limited), "running", tighter, "started")
    assert plan.actions == ("update",) and plan.differences == ("resources.memory",)


def test_networks_in_place_only_between_bridged_modes_and_when_the_service_can():
    on_a = replace(BASE, network_mode="a", networks=(NetworkAttachment("a"),))
    on_ab = replace(BASE, network_mode="a", networks=(NetworkAttachment("a"), NetworkAttachment("b", ("x",))))
    assert plan_container(rec(on_a), "running", on_ab, "started", networks_in_place=True).actions == ("network",)
    assert plan_container(rec(on_a), "running", on_ab, "started").actions == ("remove", "create", "start")
    host = replace(BASE, network_mode="host")
    assert plan_container(rec(on_a), "running", host, "started", networks_in_place=True).actions[:2] == \
        ("remove", "create")
    assert network_names(on_ab) == ["a", "b"] and network_names(host) == []


def test_healthy_state_starts_and_present_keeps_a_recreated_container_running():
    assert plan_container(rec(), "exited", BASE, "healthy").actions == ("start",)
    assert plan_container(rec(), "running", BASE, "healthy").actions == ()
    changed = replace(BASE, env=("A=3",))
    assert plan_container(rec(), "running", changed, "present").actions == ("remove", "create", "start")
    assert plan_container(rec(), "exited", changed, "present").actions == ("remove", "create")


def test_flat_spec_compares_each_limit():
    flat = flat_spec(replace(BASE, resources=Resources(cpus=1.5)))
    assert flat["resources.cpus"] == 1.5 and "resources" not in flat
    assert diff_specs(BASE, replace(BASE, resources=Resources(cpus=1.5)), ignore=("resources.cpus",)) == []


def test_an_alias_change_on_the_only_network_recreates():
    a1 = replace(BASE, network_mode="a", networks=(NetworkAttachment("a", ("x",)),))
    a2 = replace(BASE, network_mode="a", networks=(NetworkAttachment("a", ("y",)),))
    assert plan_container(rec(a1), "running", a2, "started", networks_in_place=True).actions[:2] == \
        ("remove", "create")
    ab = replace(BASE, network_mode="a", networks=(NetworkAttachment("a", ("x",)), NetworkAttachment("b")))
    b2 = replace(BASE, network_mode="b", networks=(NetworkAttachment("b", ("z",)),))
    assert plan_container(rec(ab), "running", b2, "started", networks_in_place=True).actions == ("network",)
