"""The container modules' options: the argument spec, and the check of the one-task form's items.

Apart from params.py (the options onto ContainerSpec) so that a module validating its
parameters imports nothing else of the engine (_ansible.py runs the task itself elsewhere).
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidSpec


def _list(elements: str = "str", **kw: Any) -> dict[str, Any]:
    return {"type": "list", "elements": elements, **kw}


# The container module's options (the containers module validates each item against them).
ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "image": {"type": "str"},
    "state": {"type": "str", "default": "started",
              "choices": ["present", "started", "stopped", "absent", "restarted", "healthy"]},
    "command": {"type": "raw"},
    "entrypoint": _list(),
    "env": {"type": "dict"},
    "env_file": {"type": "path"},
    "user": {"type": "str"},
    "working_dir": {"type": "str"},
    "hostname": {"type": "str"},
    "domainname": {"type": "str"},
    "labels": {"type": "dict"},
    "restart_policy": {"type": "str", "choices": ["no", "on-failure", "always", "unless-stopped"]},
    "restart_retries": {"type": "int"},
    "memory": {"type": "str"},
    "memory_swap": {"type": "str"},
    "memory_reservation": {"type": "str"},
    "cpus": {"type": "float"},
    "cpu_shares": {"type": "int"},
    "cpuset_cpus": {"type": "str"},
    "pids_limit": {"type": "int"},
    "oom_kill_disable": {"type": "bool", "default": False},
    "capabilities": _list(),
    "cap_drop": _list(),
    "privileged": {"type": "bool", "default": False},
    "security_opts": _list(),
    "read_only": {"type": "bool", "default": False},
    "tmpfs": _list(),
    "init": {"type": "bool", "default": False},
    "stop_signal": {"type": "str"},
    "stop_timeout": {"type": "int"},
    "detach": {"type": "bool", "default": True},
    "auto_remove": {"type": "bool", "default": False},
    "tty": {"type": "bool", "default": False},
    "interactive": {"type": "bool", "default": False},
    "published_ports": _list(aliases=["ports"]),
    "publish_all_ports": {"type": "bool", "default": False},
    "exposed_ports": _list(aliases=["exposed", "expose"]),
    "networks": _list("dict", options={
        "name": {"type": "str", "required": True},
        "aliases": _list(),
        "ipv4_address": {"type": "str"},
    }),
    "network_mode": {"type": "str"},
    "mounts": _list("dict", options={
        "target": {"type": "str", "required": True},
        "source": {"type": "str"},
        "type": {"type": "str", "default": "volume", "choices": ["bind", "volume", "tmpfs"]},
        "read_only": {"type": "bool", "default": False},
        "propagation": {"type": "str",
                        "choices": ["private", "rprivate", "shared", "rshared", "slave", "rslave"]},
        "no_copy": {"type": "bool", "default": False},
        "tmpfs_size": {"type": "str"},
        "tmpfs_mode": {"type": "str"},
    }),
    "volumes": _list(),
    "volumes_from": _list(),
    "dns_servers": _list(),
    "dns_search_domains": _list(),
    "dns_opts": _list(),
    "etc_hosts": {"type": "dict"},
    "log_driver": {"type": "str", "choices": ["json-file", "local", "none"]},
    "log_options": {"type": "dict", "aliases": ["log_opt"]},
    "healthcheck": {"type": "dict", "options": {
        "test": {"type": "raw"},
        "interval": {"type": "str"},
        "timeout": {"type": "str"},
        "start_period": {"type": "str"},
        "retries": {"type": "int"},
    }},
    "healthy_wait_timeout": {"type": "float", "default": 300.0},
    "sysctls": {"type": "dict"},
    "ulimits": _list(),
    "recreate": {"type": "bool", "default": False},
    "pull": {"type": "str", "default": "missing", "choices": ["missing", "always", "never"]},
    "platform": {"type": "str"},
    "comparisons": {"type": "dict"},
    "force_kill": {"type": "bool", "default": False},
    "keep_volumes": {"type": "bool", "default": True},
    "removal_wait_timeout": {"type": "float"},
}


def validate_item(item: Any, index: int) -> dict[str, Any]:
    """One item of the containers module, checked and completed against the container options
    (Ansible's own validator: this runs where the module runs)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    if not isinstance(item, dict):
        raise InvalidSpec(f"containers[{index}]: expected a dict of container options", field="containers")
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(item)
    if result.error_messages:
        who = item.get("name") or index
        raise InvalidSpec(f"containers[{who}]: {'; '.join(result.error_messages)}", field="containers",
                          value=who)
    return dict(result.validated_parameters)


def validate_items(items: list[Any], defaults: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every item of the containers module with the defaults under it; names listed once."""
    params = [validate_item({**(defaults or {}), **item} if isinstance(item, dict) else item, i)
              for i, item in enumerate(items)]
    names = [p["name"] for p in params]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InvalidSpec(f"containers: {sorted(dup)[0]!r} is listed more than once", field="containers",
                          value=sorted(dup)[0])
    return params
