"""Network state on disk: the desired spec, the network record and the endpoints, pure.

A network is ``root/networks/<id>.json`` (a ``NetworkRecord`` with the ``NetworkSpec`` that
created it, which is what ``ensure`` compares against). Its endpoints live as long as the
kernel objects they describe, in ``run/networks/<id>.endpoints.json``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidSpec

BUILTIN = ("bridge", "host", "none")
DEFAULT_NETWORK = "bridge"
DRIVERS = ("bridge", "host", "null")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Driver options berth understands (Docker's names); any other is refused, not ignored.
KNOWN_OPTIONS = ("com.docker.network.bridge.name", "com.docker.network.driver.mtu",
                 "com.docker.network.bridge.enable_ip_masquerade",
                 "com.docker.network.bridge.enable_icc")


def check_name(name: str, field_name: str = "name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 128:
        raise InvalidSpec(f"invalid network {field_name} {name!r}: use letters, digits, '_', '.' or '-', "
                          "starting with a letter or digit", field=field_name, value=name)
    return name


def _str_map(value: Any, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidSpec(f"invalid {field_name}: expected a mapping, got {value!r}", field=field_name,
                          value=value)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@dataclass(frozen=True)
class NetworkSpec:
    """What the user asked for (CLI flags or module params)."""

    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.driver not in ("bridge",):
            raise InvalidSpec(f"invalid driver {self.driver!r}: user-defined networks use the 'bridge' "
                              "driver ('host' and 'none' exist once, built in)", field="driver",
                              value=self.driver)
        object.__setattr__(self, "labels", _str_map(self.labels, "labels"))
        object.__setattr__(self, "options", _str_map(self.options, "options"))
        for key, value in self.options.items():
            if key not in KNOWN_OPTIONS:
                raise InvalidSpec(f"unsupported driver option {key!r} (options): berth knows "
                                  + ", ".join(KNOWN_OPTIONS), field="options", value=key)
            if key == "com.docker.network.driver.mtu" and not (value.isdigit() and 68 <= int(value) <= 65535):
                raise InvalidSpec(f"invalid MTU {value!r} (options): expected 68-65535", field="options",
                                  value=value)
            if key == "com.docker.network.bridge.name" and not re.match(r"^[a-zA-Z0-9_.-]{1,15}$", value):
                raise InvalidSpec(f"invalid bridge name {value!r} (options): up to 15 letters, digits, "
                                  "'_', '.' or '-'", field="options", value=value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSpec:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> NetworkSpec:
        """From the network module's parameters (community.docker's names)."""
        configs = params.get("ipam_config") or []
        if len(configs) > 1:
            raise InvalidSpec("ipam_config: berth supports one IPv4 pool per network", field="ipam_config",
                              value=configs)
        cfg = configs[0] if configs else {}
        if params.get("enable_ipv6"):
            raise InvalidSpec("enable_ipv6: IPv6 networks are not supported by berth yet",
                              field="enable_ipv6", value=True)
        return cls(driver=params.get("driver") or "bridge", subnet=cfg.get("subnet") or None,
                   gateway=cfg.get("gateway") or None, ip_range=cfg.get("iprange") or None,
                   internal=bool(params.get("internal")), attachable=bool(params.get("attachable")),
                   labels=params.get("labels") or {}, options=params.get("driver_options") or {})


@dataclass(frozen=True)
class NetworkRecord:
    """A network as stored: identity, resolved IPAM and kernel names, and its desired spec."""

    id: str
    name: str
    driver: str                         # bridge | host | null
    created: str
    spec: NetworkSpec | None = None     # None for the built-in networks
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    bridge: str = ""                    # the Linux bridge device
    builtin: bool = False

    @property
    def internal(self) -> bool:
        return bool(self.spec and self.spec.internal)

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def user_defined(self) -> bool:
        """Docker's embedded DNS serves user-defined networks only."""
        return not self.builtin

    @property
    def mtu(self) -> int | None:
        value = self.spec.options.get("com.docker.network.driver.mtu") if self.spec else None
        return int(value) if value else None

    @property
    def masquerade(self) -> bool:
        if self.internal:
            return False
        value = self.spec.options.get("com.docker.network.bridge.enable_ip_masquerade") if self.spec else None
        return value not in ("false", "0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict() if self.spec else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkRecord:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        kw["spec"] = NetworkSpec.from_dict(d["spec"]) if d.get("spec") else None
        return cls(**kw)


@dataclass(frozen=True)
class Endpoint:
    """One container's attachment to one network."""

    container_id: str
    name: str                           # the container's name, no leading '/'
    endpoint_id: str
    ip: str
    prefixlen: int
    mac: str
    host_ifname: str                    # the host side of the veth pair
    ifname: str                         # eth0, eth1... inside the container
    netns: str
    aliases: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    gateway: str = ""                   # the network's gateway
    default_route: bool = False         # this endpoint carries the container's default route
    hostname: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        d["dns_names"] = list(self.dns_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Endpoint:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        kw["aliases"] = tuple(d.get("aliases") or ())
        kw["dns_names"] = tuple(d.get("dns_names") or ())
        return cls(**kw)

    def settings(self, network: NetworkRecord) -> dict[str, Any]:
        """Docker's NetworkSettings.Networks[<name>] entry."""
        return {
            "IPAMConfig": None, "Links": None, "Aliases": list(self.aliases) or None,
            "MacAddress": self.mac, "NetworkID": network.id, "EndpointID": self.endpoint_id,
            "Gateway": self.gateway, "IPAddress": self.ip, "IPPrefixLen": self.prefixlen,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DriverOpts": None, "DNSNames": list(self.dns_names) or None,
        }


def inspect(record: NetworkRecord, endpoints: dict[str, Endpoint]) -> dict[str, Any]:
    """``docker network inspect`` for one network."""
    spec = record.spec
    config = []
    if record.subnet:
        entry = {"Subnet": record.subnet, "Gateway": record.gateway}
        if record.ip_range:
            entry["IPRange"] = record.ip_range
        config.append(entry)
    options = dict(spec.options) if spec else {}
    if record.name == DEFAULT_NETWORK and record.builtin:
        options = {"com.docker.network.bridge.default_bridge": "true",
                   "com.docker.network.bridge.enable_icc": "true",
                   "com.docker.network.bridge.enable_ip_masquerade": "true",
                   "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                   "com.docker.network.bridge.name": record.bridge,
                   "com.docker.network.driver.mtu": "1500"}
    return {
        "Name": record.name,
        "Id": record.id,
        "Created": record.created,
        "Scope": "local",
        "Driver": record.driver,
        "EnableIPv4": True,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if record.builtin else {}, "Config": config},
        "Internal": record.internal,
        "Attachable": bool(spec and spec.attachable),
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            cid: {"Name": ep.name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                  "IPv4Address": f"{ep.ip}/{ep.prefixlen}", "IPv6Address": ""}
            for cid, ep in sorted(endpoints.items())
        },
        "Options": options,
        "Labels": dict(spec.labels) if spec else {},
    }
