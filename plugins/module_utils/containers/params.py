"""The container modules' parameters onto ``ContainerSpec``, through the CLI's own parsers.

Option names are community.docker.docker_container's; the values go through containers/options.py
(the parsers behind `berth run`), so a module and the CLI read ``512m``, ``8080:80`` or
``/data:/srv:ro`` the same way. Every error is re-raised as InvalidSpec prefixed with the
option's name ("memory: ..."), so a failed task says which option to fix.

``COMPARED`` maps option names to the spec fields they fill, for ``comparisons``.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..errors import InvalidSpec
from . import options as o
from .spec import ContainerSpec, Healthcheck, MountSpec, NetworkAttachment, Resources, RestartPolicy

T = TypeVar("T")

# option -> spec field(s) it fills; "resources.x" are compared (and updated) one by one
COMPARED: dict[str, tuple[str, ...]] = {
    "image": ("image",), "command": ("command",), "entrypoint": ("entrypoint",), "env": ("env",),
    "env_file": ("env",), "user": ("user",), "working_dir": ("working_dir",), "hostname": ("hostname",),
    "domainname": ("domainname",), "labels": ("labels",),
    "restart_policy": ("restart_policy",), "restart_retries": ("restart_policy",),
    "memory": ("resources.memory",), "memory_swap": ("resources.memory_swap",),
    "memory_reservation": ("resources.memory_reservation",), "cpus": ("resources.cpus",),
    "cpu_shares": ("resources.cpu_shares",), "cpuset_cpus": ("resources.cpuset_cpus",),
    "pids_limit": ("resources.pids_limit",), "oom_kill_disable": ("resources.oom_kill_disable",),
    "capabilities": ("cap_add",), "cap_drop": ("cap_drop",), "privileged": ("privileged",),
    "security_opts": ("security_opt",), "read_only": ("read_only",), "tmpfs": ("tmpfs",), "init": ("init",),
    "stop_signal": ("stop_signal",), "stop_timeout": ("stop_timeout",), "tty": ("tty",),
    "interactive": ("interactive",), "auto_remove": ("auto_remove",), "network_mode": ("network_mode",),
    "networks": ("networks", "network_mode"), "published_ports": ("ports", "publish_all"),
    "publish_all_ports": ("publish_all",), "exposed_ports": ("expose",), "mounts": ("mounts",),
    "volumes": ("mounts",), "volumes_from": ("volumes_from",), "dns_servers": ("dns",),
    "dns_search_domains": ("dns_search",), "dns_opts": ("dns_options",), "etc_hosts": ("extra_hosts",),
    "log_driver": ("log_driver",), "log_options": ("log_opts",), "healthcheck": ("healthcheck",),
    "sysctls": ("sysctls",), "ulimits": ("ulimits",),
}
COMPARISON_MODES = ("strict", "ignore")


def _opt(name: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, a parser; its InvalidSpec is re-raised naming the module option."""
    try:
        return fn(*args)
    except InvalidSpec as exc:
        field = exc.details.get("field")
        opt = field if field in COMPARED else name  # the spec's own checks may name a finer option
        if exc.msg.startswith(f"{opt}:"):
            raise
        raise InvalidSpec(f"{opt}: {exc.msg}", field=opt, value=exc.details.get("value")) from None
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"{name}: {exc}", field=name) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _argv(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise InvalidSpec(f"{name}: cannot split {value!r}: {exc}", field=name, value=value) from None
    if isinstance(value, (list, tuple)):
        return tuple(_text(v) for v in value)
    raise InvalidSpec(f"{name}: expected a string or a list of strings, got {type(value).__name__}",
                      field=name, value=value)


def _bytes(p: dict[str, Any], name: str) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        return None
    n = _opt(name, lambda: o.parse_bytes(_text(v), name))
    return n or None  # 0 is Docker's "no limit", the same as leaving it out


def _env(p: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    if p.get("env_file"):
        out += _opt("env_file", lambda: o.parse_env_file(p["env_file"], environ={}))
    for key, value in sorted((p.get("env") or {}).items()):
        if not key or "=" in key:
            raise InvalidSpec(f"env: invalid variable name {key!r}", field="env", value=key)
        if value is None:
            raise InvalidSpec(f"env: {key} has no value (quote it: '{key}: \"\"')", field="env", value=key)
        out.append(f"{key}={_text(value)}")
    # later wins, as in Docker: keep one entry per name, at the place of its last value
    last = {e.split("=", 1)[0]: i for i, e in enumerate(out)}
    return tuple(e for i, e in enumerate(out) if last[e.split("=", 1)[0]] == i)


def _mount(m: dict[str, Any]) -> MountSpec:
    kind = m.get("type") or "volume"
    source = m.get("source") or ""
    if kind == "bind" and source:
        import os
        source = os.path.abspath(source)
    mode = m.get("tmpfs_mode")
    return MountSpec(
        type=kind, target=m.get("target") or "", source=source, read_only=bool(m.get("read_only")),
        propagation=m.get("propagation") or "", no_copy=bool(m.get("no_copy")),
        tmpfs_size=o.parse_bytes(_text(m["tmpfs_size"]), "tmpfs_size") if m.get("tmpfs_size") else None,
        tmpfs_mode=int(str(mode), 8) if mode not in (None, "") else None)


def _healthcheck(h: dict[str, Any] | None) -> Healthcheck | None:
    if not h:
        return None
    test = h.get("test")
    if isinstance(test, str):
        test_t: tuple[str, ...] = ("CMD-SHELL", test)
    elif test:
        test_t = tuple(_text(t) for t in test)
        if test_t[0] not in ("CMD", "CMD-SHELL", "NONE"):
            test_t = ("CMD", *test_t)
    else:
        test_t = ()
    dur = {k: o.parse_duration_ns(_text(h[k]), k) if h.get(k) not in (None, "") else 0
           for k in ("interval", "timeout", "start_period")}
    return Healthcheck(test_t, retries=int(h.get("retries") or 0), **dur)


def _networks(p: dict[str, Any]) -> tuple[str | None, tuple[NetworkAttachment, ...]]:
    nets = p.get("networks")
    if nets is None:
        return None, ()
    out = []
    for n in nets:
        if not n.get("name"):
            raise InvalidSpec("networks: every entry needs a name", field="networks")
        out.append(NetworkAttachment(n["name"], tuple(n.get("aliases") or ()), n.get("ipv4_address") or None))
    return (out[0].name if out else "none"), tuple(out)


def _ports(p: dict[str, Any]) -> tuple[tuple[Any, ...], bool]:
    ports, publish_all = [], bool(p.get("publish_all_ports"))
    for v in p.get("published_ports") or ():
        if str(v) == "all":  # community.docker's spelling of -P
            publish_all = True
            continue
        ports += _opt("published_ports", o.parse_publish, _text(v))
    return tuple(ports), publish_all


def _ulimit(v: str) -> Any:
    # community.docker writes nofile:1024:2048; the CLI nofile=1024:2048
    name, sep, rest = v.partition(":") if "=" not in v else v.partition("=")
    return o.parse_ulimit(f"{name}={rest}" if sep else v)


def spec_from_params(p: dict[str, Any]) -> ContainerSpec:
    """The desired spec for the module's params (``name`` and ``image`` required by the caller)."""
    mode, networks = _networks(p)
    if p.get("network_mode"):
        mode = p["network_mode"]
    ports, publish_all = _ports(p)
    resources = _opt("resources", lambda: Resources(
        memory=_bytes(p, "memory"), memory_swap=_bytes(p, "memory_swap"),
        memory_reservation=_bytes(p, "memory_reservation"),
        cpus=_opt("cpus", lambda: o.parse_cpus(p["cpus"])) if p.get("cpus") else None,
        cpu_shares=p.get("cpu_shares") or None, cpuset_cpus=p.get("cpuset_cpus") or None,
        pids_limit=p.get("pids_limit"), oom_kill_disable=bool(p.get("oom_kill_disable"))))
    mounts = [_opt("volumes", o.parse_volume, v) for v in p.get("volumes") or ()]
    mounts += [_opt("mounts", _mount, m) for m in p.get("mounts") or ()]
    kw: dict[str, Any] = dict(
        image=p["image"], name=p["name"], command=_argv("command", p.get("command")),
        entrypoint=_argv("entrypoint", p.get("entrypoint")), env=_env(p), user=p.get("user"),
        working_dir=p.get("working_dir"), hostname=p.get("hostname"), domainname=p.get("domainname"),
        labels={k: _text(v) for k, v in (p.get("labels") or {}).items()},
        restart_policy=_opt("restart_policy", lambda: RestartPolicy(p.get("restart_policy") or "no",
                                                                    p.get("restart_retries") or 0)),
        resources=resources, cap_add=_upper(p.get("capabilities")), cap_drop=_upper(p.get("cap_drop")),
        privileged=bool(p.get("privileged")),
        security_opt=tuple(_opt("security_opts", o.parse_security_opt, s)
                           for s in p.get("security_opts") or ()),
        read_only=bool(p.get("read_only")),
        tmpfs=dict(_opt("tmpfs", o.parse_tmpfs, t) for t in p.get("tmpfs") or ()),
        init=bool(p.get("init")), stop_signal=p.get("stop_signal"), stop_timeout=p.get("stop_timeout"),
        tty=bool(p.get("tty")), interactive=bool(p.get("interactive")), auto_remove=bool(p.get("auto_remove")),
        network_mode=mode or "bridge", networks=networks, ports=ports, publish_all=publish_all,
        mounts=tuple(mounts), volumes_from=tuple(p.get("volumes_from") or ()),
        dns=tuple(p.get("dns_servers") or ()), dns_search=tuple(p.get("dns_search_domains") or ()),
        dns_options=tuple(p.get("dns_opts") or ()),
        extra_hosts=tuple(_opt("etc_hosts", o.parse_add_host, f"{h}:{ip}")
                          for h, ip in sorted((p.get("etc_hosts") or {}).items())),
        log_driver=p.get("log_driver") or "json-file",
        log_opts=_opt("log_options", lambda: o.parse_log_opts(
            f"{k}={_text(v)}" for k, v in sorted((p.get("log_options") or {}).items()))),
        healthcheck=_opt("healthcheck", lambda: _healthcheck(p.get("healthcheck"))),
        sysctls=dict(_opt("sysctls", o.parse_sysctl, f"{k}={_text(v)}")
                     for k, v in sorted((p.get("sysctls") or {}).items())),
        ulimits=tuple(_opt("ulimits", _ulimit, u) for u in p.get("ulimits") or ()),
        expose=tuple(e for v in p.get("exposed_ports") or () for e in _opt("exposed_ports", o.parse_expose,
                                                                           _text(v))),
    )
    return _opt_spec(kw)


def _upper(values: Iterable[str] | None) -> tuple[str, ...]:
    out = []
    for v in values or ():
        c = v.upper()
        out.append(c if c == "ALL" or c.startswith("CAP_") else "CAP_" + c)
    return tuple(out)


# ContainerSpec's own checks name spec fields; say which option they came from
_FIELD_OPTION = {"security_opt": "security_opts", "ports": "published_ports", "extra_hosts": "etc_hosts",
                 "dns": "dns_servers", "cap_add": "capabilities", "log_opts": "log_options",
                 "mounts.target": "mounts", "mounts.source": "mounts", "mounts.type": "mounts"}


def _opt_spec(kw: dict[str, Any]) -> ContainerSpec:
    try:
        return ContainerSpec(**kw)
    except InvalidSpec as exc:
        field = str(exc.details.get("field") or "")
        name = _FIELD_OPTION.get(field, field) or "image"
        msg = exc.msg if exc.msg.startswith(f"{name}:") else f"{name}: {exc.msg}"
        raise InvalidSpec(msg, field=name, value=exc.details.get("value")) from None


def ignored_fields(comparisons: dict[str, str] | None, given: Iterable[str]) -> tuple[str, ...]:
    """Spec fields not to compare: options set to ``ignore``, and with ``'*': ignore`` every
    option the task does not set (unless it is listed as ``strict``)."""
    comparisons = dict(comparisons or {})
    for key, mode in comparisons.items():
        if key != "*" and key not in COMPARED:
            raise InvalidSpec(f"comparisons: unknown option {key!r}", field="comparisons", value=key)
        if mode not in COMPARISON_MODES:
            raise InvalidSpec(f"comparisons: {key}: mode must be one of {', '.join(COMPARISON_MODES)}, not "
                              f"{mode!r}", field="comparisons", value=mode)
    strict = {f for k, m in comparisons.items() if m == "strict" and k != "*" for f in COMPARED[k]}
    ignore = {f for k, m in comparisons.items() if m == "ignore" and k != "*" for f in COMPARED[k]}
    if comparisons.get("*") == "ignore":
        wanted = {f for k in given if k in COMPARED for f in COMPARED[k]}
        every = {f for fs in COMPARED.values() for f in fs}
        ignore |= every - wanted
    return tuple(sorted(ignore - strict))


def given_options(p: dict[str, Any]) -> list[str]:
    """The options a task sets (not None, not an empty default)."""
    return [k for k in COMPARED if p.get(k) not in (None, [], {}, "")]
