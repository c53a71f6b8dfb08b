"""Published ports: ``-p`` parsing, host port allocation and Docker's output shapes; pure
except for the check that a host port is free.

A binding is a plain dict, the shape the container service stores:
``{"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": 8080}`` where
``host_port`` None (or 0) means any free port of the ephemeral range, and a string
``"8080-8090"`` a free port of that range. Allocation returns the same dicts with the port
chosen and ``host_ip`` filled ("0.0.0.0" for every address).
"""
from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import Conflict, InvalidSpec, NetworkError

PROTOCOLS = ("tcp", "udp", "sctp")
ANY_IP = "0.0.0.0"
_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?$")
Binding = dict[str, Any]


def _port_range(text: str, value: str, what: str) -> tuple[int, int]:
    m = _PORT_RE.match(text)
    if not m:
        raise InvalidSpec(f"invalid publish {value!r}: bad {what} {text!r} (publish)", field="publish",
                          value=value)
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (1 <= lo <= hi <= 65535):
        raise InvalidSpec(f"invalid publish {value!r}: {what} {text!r} is out of range 1-65535 (publish)",
                          field="publish", value=value)
    return lo, hi


def split_key(key: str) -> tuple[int, str]:
    """``"80/tcp"`` (or ``"80"``) -> (80, "tcp"), validated."""
    port, _, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidSpec(f"invalid port {key!r}: protocol must be tcp, udp or sctp", field="ports", value=key)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidSpec(f"invalid port {key!r}: expected 1-65535", field="ports", value=key)
    return int(port), proto


def parse_publish(specs: Iterable[str]) -> list[Binding]:
    """``-p`` values -> bindings. Forms: ``80``, ``8080:80``, ``ip:8080:80``, ``ip::80``,
    ranges on either side (``8080-8090:80`` takes a free port of the range), ``/udp``."""
    out: list[Binding] = []
    for value in specs:
        text = str(value).strip()
        rest, proto = (text.rsplit("/", 1) if "/" in text else (text, "tcp"))
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise InvalidSpec(f"invalid publish {value!r}: protocol {proto!r} is not tcp, udp or sctp "
                              "(publish)", field="publish", value=value)
        if rest.startswith("["):
            raise InvalidSpec(f"invalid publish {value!r}: IPv6 host addresses are not supported (publish)",
                              field="publish", value=value)
        parts = rest.split(":")
        if len(parts) == 1:
            host_ip, host, ctr = "", "", parts[0]
        elif len(parts) == 2:
            host_ip, (host, ctr) = "", parts
        elif len(parts) == 3:
            host_ip, host, ctr = parts
        else:
            raise InvalidSpec(f"invalid publish {value!r}: expected [ip:][hostPort:]containerPort[/proto] "
                              "(publish)", field="publish", value=value)
        if host_ip:
            try:
                ipaddress.IPv4Address(host_ip)
            except ValueError:
                raise InvalidSpec(f"invalid publish {value!r}: {host_ip!r} is not an IPv4 address (publish)",
                                  field="publish", value=value) from None
        c_lo, c_hi = _port_range(ctr, value, "container port")
        h_lo = h_hi = 0
        if host:
            h_lo, h_hi = _port_range(host, value, "host port")
            if c_hi > c_lo and c_hi - c_lo != h_hi - h_lo:
                raise InvalidSpec(f"invalid publish {value!r}: the host and container port ranges differ in "
                                  "size (publish)", field="publish", value=value)
        for i, cport in enumerate(range(c_lo, c_hi + 1)):
            hp: int | str | None
            if not host:
                hp = None
            elif c_hi > c_lo:
                hp = h_lo + i
            else:
                hp = h_lo if h_lo == h_hi else f"{h_lo}-{h_hi}"
            out.append({"container_port": cport, "protocol": proto, "host_ip": host_ip, "host_port": hp})
    return out


def publish_all(exposed: Iterable[str]) -> list[Binding]:
    """``-P``: every exposed port (``"80/tcp"`` keys) onto a free host port."""
    out = []
    for key in exposed:
        port, proto = split_key(key)
        out.append({"container_port": port, "protocol": proto, "host_ip": "", "host_port": None})
    return out


def from_port_bindings(bindings: Mapping[str, Sequence[Mapping[str, str]] | None]) -> list[Binding]:
    """Docker's HostConfig.PortBindings shape -> bindings."""
    out = []
    for key, entries in bindings.items():
        port, proto = split_key(key)
        for e in entries or [{}]:
            hp = str(e.get("HostPort") or "")
            host_port: int | str | None = int(hp) if hp.isdigit() else (hp or None)
            out.append({"container_port": port, "protocol": proto, "host_ip": e.get("HostIp") or "",
                        "host_port": host_port})
    return out


def to_port_map(bindings: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """Allocated bindings -> Docker's NetworkSettings.Ports shape."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        key = f"{b['container_port']}/{b.get('protocol') or 'tcp'}"
        out.setdefault(key, []).append({"HostIp": b.get("host_ip") or ANY_IP,
                                        "HostPort": str(b.get("host_port") or "")})
    return out


def local_port_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def bindable(proto: str, host_ip: str, port: int) -> bool:
    """True when no other program holds the port: try to bind it for a moment."""
    if proto == "sctp":
        return True  # the sctp module is often absent; the DNAT rule does not need a socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            # Connections lingering in TIME_WAIT must not make a port look taken.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or ANY_IP, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidSpec(f"cannot publish on {host_ip}: it is not an address of this host (publish)",
                                  field="publish", value=host_ip) from None
            return False
    return True


def _clashes(proto: str, host_ip: str, port: int, taken: Iterable[tuple[str, str, int]]) -> bool:
    any_ip = ("", ANY_IP)
    for t_proto, t_ip, t_port in taken:
        if t_proto == proto and t_port == port and (t_ip in any_ip or host_ip in any_ip or t_ip == host_ip):
            return True
    return False


def allocate(bindings: Iterable[Mapping[str, Any]], taken: Iterable[tuple[str, str, int]],
             port_range: tuple[int, int] | None = None, is_free: Any = bindable) -> list[Binding]:
    """Choose host ports: explicit ones are checked, empty ones and ranges get a free port.

    ``taken`` are (proto, host ip, port) already published by berth; a port is free when it is
    not taken and ``is_free`` says no other program holds it.
    """
    taken = list(taken)
    lo, hi = port_range or local_port_range()
    out: list[Binding] = []
    for b in bindings:
        proto = str(b.get("protocol") or "tcp").lower()
        cport = int(b["container_port"])
        split_key(f"{cport}/{proto}")
        host_ip = str(b.get("host_ip") or "")
        hp = b.get("host_port")
        shown = host_ip or ANY_IP
        if isinstance(hp, int) and hp > 0 or isinstance(hp, str) and hp.isdigit() and int(hp) > 0:
            port = int(hp)
            if not 0 < port < 65536:
                raise InvalidSpec(f"invalid host port {port} (publish)", field="publish", value=port)
            if _clashes(proto, host_ip, port, taken):
                raise Conflict(f"Bind for {shown}:{port} failed: port is already allocated",
                               field="publish", value=f"{shown}:{port}/{proto}")
            if not is_free(proto, host_ip, port):
                raise Conflict(f"failed to bind port {shown}:{port}/{proto}: address already in use",
                               field="publish", value=f"{shown}:{port}/{proto}")
        else:
            if isinstance(hp, str) and "-" in hp:
                r_lo, r_hi = _port_range(hp, hp, "host port")
            else:
                r_lo, r_hi = lo, hi
            port = 0
            for candidate in range(r_lo, r_hi + 1):
                if not _clashes(proto, host_ip, candidate, taken) and is_free(proto, host_ip, candidate):
                    port = candidate
                    break
            if not port:
                raise NetworkError(f"no free host port for {cport}/{proto} in {r_lo}-{r_hi} on {shown}",
                                   field="publish", value=f"{cport}/{proto}")
        taken.append((proto, host_ip, port))
        out.append({"container_port": cport, "protocol": proto, "host_ip": shown, "host_port": port})
    return out


def port_lines(bindings: Iterable[Mapping[str, Any]], private: str | None = None) -> list[str]:
    """``docker port`` output: ``80/tcp -> 0.0.0.0:8080``; with ``private``, only that port's
    host addresses."""
    want = split_key(private) if private else None
    rows = sorted(bindings, key=lambda b: (b.get("protocol") or "tcp", int(b["container_port"]),
                                           int(b.get("host_port") or 0)))
    lines = []
    for b in rows:
        proto = b.get("protocol") or "tcp"
        if want and (int(b["container_port"]), proto) != want:
            continue
        addr = f"{b.get('host_ip') or ANY_IP}:{b.get('host_port')}"
        lines.append(addr if want else f"{b['container_port']}/{proto} -> {addr}")
    return lines


def ports_summary(bindings: Iterable[Mapping[str, Any]], exposed: Iterable[str] = ()) -> str:
    """The PORTS column of ``docker ps``: ``0.0.0.0:8080->80/tcp, 443/tcp``, ranges folded."""
    bound = sorted(((b.get("host_ip") or ANY_IP, int(b["host_port"]), int(b["container_port"]),
                     b.get("protocol") or "tcp") for b in bindings if b.get("host_port")),
                   key=lambda t: (t[3], t[0], t[2]))
    items = []
    i = 0
    while i < len(bound):
        ip, hp, cp, proto = bound[i]
        j = i
        while (j + 1 < len(bound) and bound[j + 1][0] == ip and bound[j + 1][3] == proto
               and bound[j + 1][1] == bound[j][1] + 1 and bound[j + 1][2] == bound[j][2] + 1):
            j += 1
        if j > i:
            items.append(f"{ip}:{hp}-{bound[j][1]}->{cp}-{bound[j][2]}/{proto}")
        else:
            items.append(f"{ip}:{hp}->{cp}/{proto}")
        i = j + 1
    seen = {(t[2], t[3]) for t in bound}
    for key in exposed:
        port, proto = split_key(key)
        if (port, proto) not in seen:
            items.append(f"{port}/{proto}")
            seen.add((port, proto))
    return ", ".join(items)
