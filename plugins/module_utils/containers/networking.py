"""A container's network at start and exit: modes none, host, container:<x> and bridges.

For a bridge network the container's namespace is made before its process starts (so veths can
be plugged into it), each network is connected, ports are published, and /etc/hosts and
resolv.conf are written with what the networks handed out. ``release`` undoes all of it and
is safe to call twice.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, Conflict, InvalidSpec

if TYPE_CHECKING:  # pragma: no cover
    from .records import ContainerRecord
    from .service import ContainerService

DEFAULT_BRIDGE = "bridge"


def _has_network_service() -> bool:
    import importlib.util
    return importlib.util.find_spec(__package__.rsplit(".", 1)[0] + ".network.service") is not None


class NetworkAttacher:
    def __init__(self, service: ContainerService) -> None:
        self.service = service
        self.engine = service.engine

    def network_names(self, rec: ContainerRecord) -> list[str]:
        spec = rec.spec
        mode = spec.network_mode
        if mode in ("host", "none") or mode.startswith("container:"):
            return []
        names = [DEFAULT_BRIDGE if mode == "default" else mode]
        names += [n.name for n in spec.networks if n.name not in names]
        return names

    def attach(self, rec: ContainerRecord, undo: list[Callable[[], Any]]
               ) -> tuple[ContainerRecord, dict[str, Any] | None]:
        spec = rec.spec
        mode = spec.network_mode
        if mode.startswith("container:"):
            other = self.service.get(mode.split(":", 1)[1])
            st = self.service.state(other.id)
            if not st["Running"]:
                raise Conflict(f"cannot join network of a non running container: {other.id}", id=other.id)
            netns = other.netns or f"/proc/{st['Pid']}/ns/net"
            rec = rec.replace(netns=netns)
            self.service._write_etc_files(rec, ips=())
            return rec, None
        names = self.network_names(rec)
        if not names or not _has_network_service():
            # none and host; and, until the network service is installed, a private namespace
            # with only loopback for bridge modes.
            self.service._write_etc_files(rec, ips=())
            return rec.replace(netns=None, networks={}, ports=()), None
        nets = self.engine.networks
        netns = nets.create_netns(rec.id)
        undo.append(lambda: nets.delete_netns(rec.id))
        endpoints: dict[str, dict[str, Any]] = {}
        wanted = {n.name: n for n in spec.networks}
        for name in names:
            att = wanted.get(name)
            aliases = list(att.aliases) if att else []
            ep = nets.connect(name, rec.id, netns, name=rec.name, aliases=aliases,
                              ip=att.ipv4 if att else None)
            undo.append(lambda name=name: nets.disconnect(name, rec.id))
            endpoints[ep.get("NetworkName", name)] = dict(ep)
        first = next(iter(endpoints.values()))
        ip = first.get("IPAddress") or ""
        bindings = self._bindings(rec)
        ports: list[dict[str, Any]] = []
        if bindings:
            ports = [dict(b) for b in nets.publish(rec.id, bindings, ip)]
            undo.append(lambda: nets.unpublish(rec.id))
        ips = tuple(e.get("IPAddress") for e in endpoints.values() if e.get("IPAddress"))
        aliases = tuple(a for n in spec.networks for a in n.aliases)
        resolv = None
        dns = None
        if any(n != DEFAULT_BRIDGE for n in endpoints):
            resolv = nets.resolv_conf(list(endpoints))
            dns = {"netns": netns, "listen": "127.0.0.11"}
        rec = rec.replace(netns=netns, networks=endpoints, ports=tuple(ports))
        self.service._write_etc_files(rec, ips=ips[:1], aliases=aliases, resolv=resolv)
        return rec, dns

    def _bindings(self, rec: ContainerRecord) -> list[dict[str, Any]]:
        spec = rec.spec
        out = [{"container_port": p.container_port, "protocol": p.protocol, "host_ip": p.host_ip,
                "host_port": p.host_port} for p in spec.ports]
        if spec.publish_all:
            have = {(b["container_port"], b["protocol"]) for b in out}
            exposed = list(rec.image_config.get("ExposedPorts") or {}) + list(spec.expose)
            for key in exposed:
                port, _, proto = key.partition("/")
                try:
                    n = int(port)
                except ValueError:
                    raise InvalidSpec(f"invalid exposed port {key!r}", field="expose", value=key) from None
                if (n, proto or "tcp") not in have:
                    out.append({"container_port": n, "protocol": proto or "tcp", "host_ip": "", "host_port": None})
                    have.add((n, proto or "tcp"))
        return out

    def release(self, rec: ContainerRecord) -> ContainerRecord:
        if not rec.networks and not rec.ports and not (rec.netns and not rec.netns.startswith("/proc/")):
            return rec
        if _has_network_service():
            nets = self.engine.networks
            try:
                # Disconnects it everywhere and drops its ports too, without waiting for the
                # kernel to delete the veths (the namespace is going away).
                nets.delete_netns(rec.id)
            except (BerthError, OSError):
                with contextlib.suppress(BerthError, OSError):
                    nets.unpublish(rec.id)
                for name in rec.networks:
                    with contextlib.suppress(BerthError, OSError):
                        nets.disconnect(name, rec.id)
                with contextlib.suppress(BerthError, OSError):
                    nets.delete_netns(rec.id)
        return rec.replace(netns=None, networks={}, ports=())
