"""The desired state of a container: ``ContainerSpec``, built from CLI flags or module params.

The spec holds what the user asked for, never what the image supplies: an absent command is
``None`` (the image's CMD applies at run time), so comparing a stored spec with a new one never
reports a change that only the image made. Validation names the field and the value, with
Docker's limits (memory at least 6 MB, RFC 1123 hostnames, the four restart policies).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InvalidSpec

MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
NETWORK_MODES = ("bridge", "host", "none", "default")
MOUNT_TYPES = ("bind", "volume", "tmpfs")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
LOG_DRIVERS = ("json-file", "none", "local")

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ENV_NAME_RE = re.compile(r"^[^=\x00]+$")
_SIGNAL_RE = re.compile(r"^(SIG)?[A-Z0-9+-]+$|^[0-9]+$")


def _bad(field_name: str, value: Any, why: str) -> InvalidSpec:
    return InvalidSpec(f"invalid {field_name} {value!r}: {why}", field=field_name, value=value)


def check_container_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidSpec(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                          field="name", value=name)
    return name.lstrip("/")


def check_hostname(value: str, field_name: str = "hostname") -> str:
    """RFC 1123 host names, within the kernel's 64 bytes for a UTS name."""
    if not value or len(value) > 64:
        raise _bad(field_name, value, "must be 1 to 64 characters")
    for label in value.split("."):
        if not _LABEL_RE.match(label):
            raise _bad(field_name, value, "not a valid RFC 1123 host name (letters, digits and '-' "
                                          "in dot-separated labels that start and end with a letter or digit)")
    return value


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _plain(value: Any) -> Any:
    """Dataclass values to JSON-ready data (tuples become lists, nested specs dicts)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Data:
    """to_dict/from_dict for the flat specs below: unknown keys are refused by name."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        extra = sorted(set(d) - names)
        if extra:
            raise InvalidSpec(f"unknown {cls.__name__} field {extra[0]!r}", field=extra[0])
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return cls(**kwargs)


@dataclass(frozen=True)
class RestartPolicy(_Data):
    name: str = "no"
    max_retries: int = 0

    def __post_init__(self) -> None:
        if self.name not in RESTART_POLICIES:
            raise InvalidSpec(f"invalid restart policy: unknown policy {self.name!r}; use one of 'no', "
                              "'always', 'on-failure', or 'unless-stopped'", field="restart_policy",
                              value=self.name)
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise _bad("restart_retries", self.max_retries, "must be a non-negative integer")
        if self.max_retries and self.name != "on-failure":
            raise InvalidSpec("invalid restart policy: maximum retry count can only be used with "
                              "'on-failure'", field="restart_retries", value=self.max_retries)

    def __str__(self) -> str:
        return f"{self.name}:{self.max_retries}" if self.max_retries else self.name


@dataclass(frozen=True)
class Resources(_Data):
    """Limits that can change in place (``update``) without re-creating the container."""

    memory: int | None = None
    memory_swap: int | None = None          # -1: unlimited swap
    memory_reservation: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None           # <= 0: unlimited, as Docker treats it
    oom_kill_disable: bool = False

    def __post_init__(self) -> None:
        for name in ("memory", "memory_swap", "memory_reservation", "cpu_shares", "pids_limit"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise _bad(name, v, "must be an integer")
        if self.memory is not None and 0 < self.memory < MIN_MEMORY:
            raise InvalidSpec("Minimum memory limit allowed is 6MB", field="memory", value=self.memory)
        if self.memory is not None and self.memory < 0:
            raise _bad("memory", self.memory, "must not be negative")
        if self.memory_reservation is not None:
            if 0 < self.memory_reservation < MIN_MEMORY:
                raise InvalidSpec("Minimum memory reservation allowed is 6MB", field="memory_reservation",
                                  value=self.memory_reservation)
            if self.memory and self.memory_reservation > self.memory:
                raise InvalidSpec("Minimum memory limit can not be less than memory reservation limit, "
                                  "see usage", field="memory_reservation", value=self.memory_reservation)
        if self.memory_swap is not None and self.memory_swap not in (0, -1):
            if not self.memory:
                raise InvalidSpec("You should always set the Memory limit when using Memoryswap limit, "
                                  "see usage", field="memory_swap", value=self.memory_swap)
            if self.memory_swap < self.memory:
                raise InvalidSpec("Minimum memoryswap limit should be larger than memory limit, see usage",
                                  field="memory_swap", value=self.memory_swap)
        if self.cpus is not None:
            if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) or self.cpus < 0:
                raise _bad("cpus", self.cpus, "must be a non-negative number")
            if 0 < self.cpus < 0.01:
                raise _bad("cpus", self.cpus, "the smallest CPU share is 0.01")
        if self.cpu_shares is not None and self.cpu_shares < 0:
            raise _bad("cpu_shares", self.cpu_shares, "must not be negative")
        if self.cpuset_cpus is not None and not re.match(r"^\d+(-\d+)?(,\d+(-\d+)?)*$", self.cpuset_cpus):
            raise _bad("cpuset_cpus", self.cpuset_cpus, "expected a list such as 0-2,4")

    @property
    def nano_cpus(self) -> int:
        return int(round((self.cpus or 0) * 1e9))

    def merged(self, other: Resources) -> Resources:
        """``self`` with every field that ``other`` sets (``update`` semantics)."""
        changes = {f.name: getattr(other, f.name) for f in fields(other)
                   if getattr(other, f.name) not in (None, False)}
        return replace(self, **changes)


@dataclass(frozen=True)
class PortBinding(_Data):
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None            # None: a free port chosen at start

    def __post_init__(self) -> None:
        if not (isinstance(self.container_port, int) and 0 < self.container_port < 65536):
            raise _bad("published_ports", self.container_port, "container port must be 1-65535")
        if self.protocol not in ("tcp", "udp", "sctp"):
            raise _bad("published_ports", self.protocol, "protocol must be tcp, udp or sctp")
        if self.host_port is not None and not (isinstance(self.host_port, int) and 0 <= self.host_port < 65536):
            raise _bad("published_ports", self.host_port, "host port must be 0-65535")

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


@dataclass(frozen=True)
class MountSpec(_Data):
    """A bind, volume or tmpfs mount as asked (``-v``, ``--mount``, ``--tmpfs``)."""

    type: str
    target: str
    source: str = ""                        # host path, volume name ("" = anonymous), unused for tmpfs
    read_only: bool = False
    propagation: str = ""
    no_copy: bool = False
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    options: tuple[str, ...] = ()           # extra mount options (tmpfs flags, "z"/"Z" ignored)

    def __post_init__(self) -> None:
        if self.type not in MOUNT_TYPES:
            raise _bad("mounts.type", self.type, f"must be one of {', '.join(MOUNT_TYPES)}")
        if not self.target.startswith("/"):
            raise InvalidSpec(f"invalid mount config: mount path must be absolute: {self.target!r}",
                              field="mounts.target", value=self.target)
        if self.target.rstrip("/") == "":
            raise InvalidSpec("invalid mount config: destination can't be '/'", field="mounts.target",
                              value=self.target)
        if self.type == "bind" and not self.source.startswith("/"):
            raise _bad("mounts.source", self.source, "a bind mount needs an absolute host path")
        if self.propagation and self.propagation not in PROPAGATIONS:
            raise _bad("mounts.propagation", self.propagation, f"must be one of {', '.join(PROPAGATIONS)}")


@dataclass(frozen=True)
class NetworkAttachment(_Data):
    name: str
    aliases: tuple[str, ...] = ()
    ipv4: str | None = None


@dataclass(frozen=True)
class Ulimit(_Data):
    name: str
    soft: int
    hard: int

    def __post_init__(self) -> None:
        if self.soft > self.hard and self.hard >= 0:
            raise InvalidSpec(f"ulimit soft limit must be less than or equal to hard limit: {self.soft} > "
                              f"{self.hard}", field="ulimits", value=self.name)


@dataclass(frozen=True)
class Healthcheck(_Data):
    """Overrides of the image's HEALTHCHECK; durations in nanoseconds as Docker stores them."""

    test: tuple[str, ...] = ()              # ("NONE",) disables the image's check
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    def to_docker(self) -> dict[str, Any]:
        d: dict[str, Any] = {"Test": list(self.test)} if self.test else {}
        for key, name in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period"),
                          ("Retries", "retries")):
            if getattr(self, name):
                d[key] = getattr(self, name)
        return d


@dataclass(frozen=True)
class ContainerSpec(_Data):
    image: str
    name: str | None = None
    command: tuple[str, ...] | None = None      # None: the image's CMD
    entrypoint: tuple[str, ...] | None = None   # None: the image's; () resets it (and the CMD)
    env: tuple[str, ...] = ()                   # "KEY=value", in order; later wins
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    resources: Resources = field(default_factory=Resources)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)    # path -> mount options
    init: bool = False
    stop_signal: str | None = None              # None: the image's StopSignal, else SIGTERM
    stop_timeout: int | None = None             # None: 10 s
    tty: bool = False
    interactive: bool = False
    auto_remove: bool = False
    network_mode: str = "bridge"
    networks: tuple[NetworkAttachment, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    publish_all: bool = False
    mounts: tuple[MountSpec, ...] = ()
    volumes_from: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()           # "host:ip"
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    sysctls: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    expose: tuple[str, ...] = ()                # "80/tcp"

    def __post_init__(self) -> None:
        if not isinstance(self.image, str) or not self.image.strip():
            raise InvalidSpec("an image is required", field="image", value=self.image)
        if self.name is not None:
            object.__setattr__(self, "name", check_container_name(self.name))
        if self.hostname is not None:
            check_hostname(self.hostname)
        for name in ("command", "entrypoint"):
            v = getattr(self, name)
            if v is not None and not all(isinstance(a, str) for a in v):
                raise _bad(name, v, "must be a list of strings")
        for item in self.env:
            if not isinstance(item, str) or not _ENV_NAME_RE.match(item.split("=", 1)[0]):
                raise _bad("env", item, "expected KEY=value")
        if self.working_dir is not None and not self.working_dir.startswith("/"):
            raise InvalidSpec(f"the working directory '{self.working_dir}' is invalid, it needs to be an "
                              "absolute path", field="working_dir", value=self.working_dir)
        if self.stop_signal is not None and not _SIGNAL_RE.match(self.stop_signal.upper()):
            raise _bad("stop_signal", self.stop_signal, "not a signal name or number")
        if self.stop_timeout is not None and (not isinstance(self.stop_timeout, int) or self.stop_timeout < -1):
            raise _bad("stop_timeout", self.stop_timeout, "must be an integer of seconds (-1: wait forever)")
        if self.auto_remove and self.restart_policy.name != "no":
            raise InvalidSpec("Conflicting options: --restart and --rm", field="auto_remove", value=True)
        mode = self.network_mode
        if not mode or not isinstance(mode, str):
            raise _bad("network_mode", mode, "must be bridge, host, none, container:<name> or a network name")
        if mode in ("host", "none") or mode.startswith("container:"):
            if self.ports or self.publish_all:
                raise InvalidSpec(f"conflicting options: port publishing and the container type network "
                                  f"mode {mode!r}", field="published_ports", value=mode)
            if mode == "host" and self.hostname is not None:
                raise InvalidSpec("conflicting options: hostname and the network mode", field="hostname",
                                  value=self.hostname)
        if self.log_driver not in LOG_DRIVERS:
            raise _bad("log_driver", self.log_driver, f"supported drivers: {', '.join(LOG_DRIVERS)}")
        targets: set[str] = set()
        for m in self.mounts:
            t = m.target.rstrip("/")
            if t in targets:
                raise InvalidSpec(f"Duplicate mount point: {m.target}", field="mounts", value=m.target)
            targets.add(t)
        for path in self.tmpfs:
            if not path.startswith("/"):
                raise _bad("tmpfs", path, "the mount point must be an absolute path")
        for opt in self.security_opt:
            check_security_opt(opt)

    # --- derived views -----------------------------------------------------------------
    @property
    def effective_stop_timeout(self) -> int:
        return 10 if self.stop_timeout is None else self.stop_timeout

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerSpec:
        d = dict(d)
        nested = {
            "restart_policy": RestartPolicy, "resources": Resources,
        }
        for key, kind in nested.items():
            if isinstance(d.get(key), dict):
                d[key] = kind.from_dict(d[key])
        for key, kind in (("networks", NetworkAttachment), ("ports", PortBinding), ("mounts", MountSpec),
                          ("ulimits", Ulimit)):
            if key in d:
                d[key] = tuple(kind.from_dict(x) if isinstance(x, dict) else x for x in d[key] or ())
        if isinstance(d.get("healthcheck"), dict):
            d["healthcheck"] = Healthcheck.from_dict(d["healthcheck"])
        for key in ("command", "entrypoint"):
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
        for key in ("env", "cap_add", "cap_drop", "security_opt", "volumes_from", "dns", "dns_search",
                    "dns_options", "extra_hosts", "expose"):
            if key in d:
                d[key] = _tuple(d[key])
        return super().from_dict(d)  # type: ignore[no-any-return]


def check_security_opt(opt: str) -> str:
    key, sep, value = opt.partition("=")
    if not sep:
        key, sep, value = opt.partition(":")  # the deprecated "seccomp:unconfined" spelling
    if key == "no-new-privileges":
        if value and value not in ("true", "false"):
            raise _bad("security_opt", opt, "no-new-privileges takes true or false")
        return opt
    if key in ("seccomp", "apparmor", "label", "systempaths", "mask", "unmask") and value:
        return opt
    raise InvalidSpec(f"Invalid --security-opt: {opt!r}", field="security_opt", value=opt)


def security_options(spec: ContainerSpec) -> dict[str, str]:
    """``--security-opt`` as a dict: seccomp -> unconfined|path, no-new-privileges -> true|false."""
    out: dict[str, str] = {}
    for opt in spec.security_opt:
        key, sep, value = opt.partition("=")
        if not sep:
            key, _, value = opt.partition(":")
        out[key] = value or "true"
    return out
