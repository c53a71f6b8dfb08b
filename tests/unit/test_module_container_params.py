"""The container modules' params onto ContainerSpec: the CLI's parsers, errors naming the option."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.berth.engine.plugins.module_utils.containers.argspec import (
    ARGUMENT_SPEC,
    validate_item,
)
from ansible_collections.berth.engine.plugins.module_utils.containers.params import (
    COMPARED,
    given_options,
    ignored_fields,
    spec_from_params,
)
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import (
    Healthcheck,
    MountSpec,
    NetworkAttachment,
    PortBinding,
    RestartPolicy,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec


def params(**kw):
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate({"name": "web", "image": "busybox", **kw})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_defaults_give_the_cli_defaults():
    spec = spec_from_params(params())
    assert spec.command is None and spec.entrypoint is None and spec.env == ()
    assert spec.network_mode == "bridge" and spec.restart_policy == RestartPolicy()
    assert spec.resources.memory is None and spec.log_driver == "json-file"


def test_values_go_through_the_cli_parsers(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=from-file\nB=2\n")
    spec = spec_from_params(params(
        command="sh -c 'echo hi'", env={"A": "1", "C": True}, env_file=str(env_file), memory="64m",
        memory_swap="128m", cpus=0.5, pids_limit=50, restart_policy="on-failure", restart_retries=3,
        published_ports=["8080:80", "127.0.0.1::53/udp"], volumes=["/srv:/data:ro", "cache:/cache"],
        mounts=[{"type": "tmpfs", "target": "/run", "tmpfs_size": "16m"}],
        networks=[{"name": "app", "aliases": ["api"]}, {"name": "back", "ipv4_address": "10.9.0.5"}],
        etc_hosts={"db": "10.0.0.2"}, healthcheck={"test": ["true"], "interval": "1m30s", "retries": 2},
        capabilities=["net_admin"], ulimits=["nofile:1024:2048"], log_options={"max-size": "10m"},
        tmpfs=["/tmp:size=8m"], sysctls={"net.ipv4.ip_forward": 1}))
    assert spec.command == ("sh", "-c", "echo hi")
    # the file first, the task's values win, one entry per name
    assert spec.env == ("B=2", "A=1", "C=true")
    assert spec.resources.memory == 64 << 20 and spec.resources.memory_swap == 128 << 20
    assert spec.resources.cpus == 0.5 and spec.resources.pids_limit == 50
    assert spec.restart_policy == RestartPolicy("on-failure", 3)
    assert spec.ports == (PortBinding(80, "tcp", "", 8080), PortBinding(53, "udp", "127.0.0.1", None))
    assert spec.mounts[0] == MountSpec("bind", "/data", "/srv", True)
    assert spec.mounts[1] == MountSpec("volume", "/cache", "cache")
    assert spec.mounts[2].type == "tmpfs" and spec.mounts[2].tmpfs_size == 16 << 20
    assert spec.network_mode == "app"
    assert spec.networks == (NetworkAttachment("app", ("api",)), NetworkAttachment("back", (), "10.9.0.5"))
    assert spec.extra_hosts == ("db:10.0.0.2",)
    assert spec.healthcheck == Healthcheck(("CMD", "true"), interval=90_000_000_000, retries=2)
    assert spec.cap_add == ("CAP_NET_ADMIN",) and spec.ulimits[0].hard == 2048
    assert spec.log_opts == {"max-size": "10m"} and spec.tmpfs == {"/tmp": "size=8m"}
    assert spec.sysctls == {"net.ipv4.ip_forward": "1"}


def test_same_params_same_spec_and_zero_memory_is_no_limit():
    assert spec_from_params(params(memory="0")) == spec_from_params(params())
    assert spec_from_params(params(env={"A": "1"})) == spec_from_params(params(env={"A": "1"}))


@pytest.mark.parametrize("kw, option", [
    ({"memory": "lots"}, "memory"),
    ({"memory": "1m"}, "memory"),
    ({"published_ports": ["80:80/xyz"]}, "published_ports"),
    ({"volumes": ["a:b:c:d"]}, "volumes"),
    ({"restart_policy": "always", "restart_retries": 2}, "restart_retries"),
    ({"working_dir": "relative"}, "working_dir"),
    ({"healthcheck": {"test": "true", "interval": "soon"}}, "healthcheck"),
    ({"security_opts": ["bogus"]}, "security_opts"),
    ({"mounts": [{"target": "relative"}]}, "mounts"),
    ({"etc_hosts": {"db": "not-an-ip"}}, "etc_hosts"),
    ({"env": {"A": None}}, "env"),
    ({"hostname": "-bad-"}, "hostname"),
])
def test_errors_name_the_option(kw, option):
    with pytest.raises(InvalidSpec) as err:
        spec_from_params(params(**kw))
    assert str(err.value).startswith(f"{option}:"), str(err.value)
    assert err.value.details["field"] == option


def test_comparisons():
    assert ignored_fields({"env": "ignore"}, []) == ("env",)
    assert ignored_fields({"memory": "ignore"}, []) == ("resources.memory",)
    given = given_options(params(command="sleep 1"))
    ignored = set(ignored_fields({"*": "ignore", "env": "strict"}, given))
    assert "command" not in ignored and "image" not in ignored and "env" not in ignored
    assert "labels" in ignored and "resources.memory" in ignored
    with pytest.raises(InvalidSpec, match="comparisons: unknown option 'colour'"):
        ignored_fields({"colour": "ignore"}, [])
    with pytest.raises(InvalidSpec, match="comparisons: env"):
        ignored_fields({"env": "loose"}, [])
    assert all(isinstance(v, tuple) for v in COMPARED.values())


def test_items_of_the_one_task_form_are_validated_like_the_module():
    item = validate_item({"name": "a", "image": "busybox", "memory": "8m"}, 0)
    assert item["state"] == "started" and item["pull"] == "missing" and item["memory"] == "8m"
    with pytest.raises(InvalidSpec, match=r"containers\[a\]: .*colour"):
        validate_item({"name": "a", "image": "busybox", "colour": "red"}, 0)
    with pytest.raises(InvalidSpec, match=r"containers\[0\]"):
        validate_item("a", 0)
