"""ContainerSpec: validation names the field, and to_dict/from_dict round-trips."""
from __future__ import annotations

import json

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import (
    ContainerSpec,
    Healthcheck,
    MountSpec,
    NetworkAttachment,
    PortBinding,
    Resources,
    RestartPolicy,
    Ulimit,
    check_hostname,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec


def test_round_trip_through_json():
    spec = ContainerSpec(
        image="busybox", name="web-1", command=("sleep", "10"), entrypoint=(), env=("A=1", "B="),
        user="1000:50", working_dir="/srv", hostname="box.example", labels={"a": "b"},
        restart_policy=RestartPolicy("on-failure", 3),
        resources=Resources(memory=64 << 20, memory_swap=128 << 20, cpus=0.5, pids_limit=20),
        cap_add=("NET_ADMIN",), cap_drop=("MKNOD",), security_opt=("no-new-privileges",),
        tmpfs={"/run": "size=1m"}, networks=(NetworkAttachment("net1", ("db",), "10.1.0.5"),),
        ports=(PortBinding(80, "tcp", "127.0.0.1", 8080),), mounts=(MountSpec("volume", "/data", "vol"),),
        healthcheck=Healthcheck(("CMD", "true"), interval=1_000_000_000), ulimits=(Ulimit("nofile", 10, 20),),
    )
    back = ContainerSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert back.entrypoint == ()


def test_absent_command_stays_none_so_image_values_never_differ():
    d = ContainerSpec(image="busybox").to_dict()
    assert d["command"] is None and d["entrypoint"] is None
    assert ContainerSpec.from_dict(d) == ContainerSpec(image="busybox")


@pytest.mark.parametrize("name", ["x", "-a", "a b", "a/b", "é1"])
def test_bad_names(name):
    with pytest.raises(InvalidSpec, match="Invalid container name"):
        ContainerSpec(image="busybox", name=name)


def test_leading_slash_name_is_accepted_and_dropped():
    assert ContainerSpec(image="busybox", name="/web").name == "web"


@pytest.mark.parametrize("host", ["-bad", "a_b", "x" * 65, "a..b", "bad-"])
def test_hostname_rfc1123(host):
    with pytest.raises(InvalidSpec) as e:
        ContainerSpec(image="busybox", hostname=host)
    assert e.value.details["field"] == "hostname"


def test_good_hostnames():
    for h in ("a", "web-1", "a.b.c", "1x"):
        assert check_hostname(h) == h


def test_memory_minimum_like_docker():
    with pytest.raises(InvalidSpec, match="Minimum memory limit allowed is 6MB"):
        Resources(memory=4 << 20)
    assert Resources(memory=6 << 20).memory == 6 << 20


def test_memory_swap_rules():
    with pytest.raises(InvalidSpec, match="always set the Memory limit"):
        Resources(memory_swap=100 << 20)
    with pytest.raises(InvalidSpec, match="larger than memory limit"):
        Resources(memory=100 << 20, memory_swap=50 << 20)
    assert Resources(memory=100 << 20, memory_swap=-1).memory_swap == -1
    with pytest.raises(InvalidSpec, match="reservation"):
        Resources(memory=10 << 20, memory_reservation=20 << 20)


def test_unknown_restart_policy():
    with pytest.raises(InvalidSpec, match="unknown policy 'sometimes'") as e:
        RestartPolicy("sometimes")
    assert e.value.details["field"] == "restart_policy"
    with pytest.raises(InvalidSpec, match="only be used with 'on-failure'"):
        RestartPolicy("always", 2)


def test_rm_conflicts_with_restart():
    with pytest.raises(InvalidSpec, match="Conflicting options: --restart and --rm"):
        ContainerSpec(image="busybox", auto_remove=True, restart_policy=RestartPolicy("always"))


def test_ports_conflict_with_host_network():
    with pytest.raises(InvalidSpec) as e:
        ContainerSpec(image="busybox", network_mode="host", ports=(PortBinding(80),))
    assert e.value.details["field"] == "published_ports"


def test_duplicate_mount_points():
    with pytest.raises(InvalidSpec, match="Duplicate mount point: /d"):
        ContainerSpec(image="busybox", mounts=(MountSpec("volume", "/d"), MountSpec("tmpfs", "/d/")))


def test_relative_working_dir():
    with pytest.raises(InvalidSpec, match="needs to be an absolute path"):
        ContainerSpec(image="busybox", working_dir="srv")


def test_unknown_field_named():
    d = ContainerSpec(image="busybox").to_dict()
    d["colour"] = "blue"
    with pytest.raises(InvalidSpec, match="colour"):
        ContainerSpec.from_dict(d)


def test_resources_merged_for_update():
    base = Resources(memory=64 << 20, cpus=1.0)
    new = base.merged(Resources(pids_limit=10, cpus=0.5))
    assert (new.memory, new.cpus, new.pids_limit) == (64 << 20, 0.5, 10)
    assert new.nano_cpus == 500_000_000


def test_bad_security_opt():
    with pytest.raises(InvalidSpec, match="Invalid --security-opt"):
        ContainerSpec(image="busybox", security_opt=("bogus",))
