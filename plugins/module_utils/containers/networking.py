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
            resolv = nets.resolv_conf(list(endpoints), (), spec.dns_search, spec.dns_options)
            dns = self.dns_args(rec, netns)
        rec = rec.replace(netns=netns, networks=endpoints, ports=tuple(ports))
        self.service._write_etc_files(rec, ips=ips[:1], aliases=aliases, resolv=resolv)
        return rec, dns

    @staticmethod
    def dns_args(rec: ContainerRecord, netns: str) -> dict[str, Any]:
        """RunOptions["dns"]: the responder in the container's namespace; its --dns servers
        are where it forwards the names it does not know."""
        args: dict[str, Any] = {"netns": netns, "listen": "127.0.0.11"}
        if rec.spec.dns:
            args["upstreams"] = list(rec.spec.dns)
        return args

    # --- connect and disconnect of an existing container ---------------------------------
    def connect(self, rec: ContainerRecord, network: str, aliases: tuple[str, ...], ip: str | None,
                running: bool) -> tuple[ContainerRecord, dict[str, Any] | None]:
        """Add ``network`` to the stored spec; plug it in now when the container runs.

        Returns the record to store and the new endpoint (None for a stopped container: its
        next start connects every network of its spec)."""
        from dataclasses import replace

        from .spec import NetworkAttachment

        spec = rec.spec
        mode = spec.network_mode
        if mode == "host" or mode.startswith("container:"):
            raise Conflict("container sharing network namespace with another container or host cannot be "
                           "connected to any other network", id=rec.id, field="network_mode", value=mode)
        if mode == "none":
            raise Conflict("container cannot be connected to multiple networks with one of the networks in "
                           "private (none) mode", id=rec.id, field="network_mode", value=mode)
        nets = self.engine.networks
        net = nets.get(network)
        if net.driver in ("host", "null"):
            raise Conflict(f"container cannot be disconnected from host network or connected to {net.name} "
                           "network", network=net.name)
        if net.name in self.network_names(rec) or net.name in rec.networks:
            raise Conflict(f"endpoint with name {rec.name} already exists in network {net.name}",
                           network=net.name, id=rec.id)
        if not net.user_defined and (ip or aliases):
            field_name, value = ("ip", ip) if ip else ("aliases", list(aliases))
            raise InvalidSpec("user specified IP address is supported on user defined networks only" if ip else
                              "network-scoped alias is supported only for containers in user defined networks",
                              field=field_name, value=value)
        rec = rec.replace(spec=replace(spec, networks=(*spec.networks, NetworkAttachment(net.name, aliases, ip))))
        if not running or not rec.netns or rec.netns.startswith("/proc/"):
            return rec, None
        had_dns = any(n != DEFAULT_BRIDGE for n in rec.networks)
        ep = dict(nets.connect(net.name, rec.id, rec.netns, name=rec.name, aliases=list(aliases), ip=ip))
        networks = dict(rec.networks)
        networks[ep.get("NetworkName", net.name)] = ep
        rec = rec.replace(networks=networks)
        resolv = None
        if net.user_defined and not had_dns:
            # The first user-defined network: names resolve through the responder from now on.
            self._start_dns(rec)
            resolv = nets.resolv_conf(list(networks), (), rec.spec.dns_search, rec.spec.dns_options)
        self._refresh_files(rec, resolv)
        return rec, ep

    def disconnect(self, rec: ContainerRecord, network: str, force: bool, running: bool) -> ContainerRecord:
        """Drop ``network`` from the stored spec; unplug it now when the container runs."""
        from dataclasses import replace

        from ..errors import NotFound

        nets = self.engine.networks
        try:
            net = nets.get(network)
            name = net.name
        except NotFound:
            if not force:
                raise
            name, net = network, None
        if (net is not None and net.driver == "host") or rec.spec.network_mode == "host":
            raise Conflict("container cannot be disconnected from host network or connected to host network",
                           network=name, id=rec.id)
        names = self.network_names(rec)
        if name not in names and name not in rec.networks:
            if force:
                return rec
            raise Conflict(f"container {rec.id} is not connected to network {name}", network=name, id=rec.id)
        spec = rec.spec
        mode = DEFAULT_BRIDGE if spec.network_mode == "default" else spec.network_mode
        remaining = [n for n in names if n != name]
        new_spec = replace(spec, networks=tuple(a for a in spec.networks if a.name != name),
                           network_mode=(remaining[0] if remaining else "none") if mode == name else spec.network_mode)
        rec = rec.replace(spec=new_spec)
        if running and name in rec.networks:
            nets.disconnect(name, rec.id, force=force)
            networks = {k: v for k, v in rec.networks.items() if k != name}
            rec = rec.replace(networks=networks)
            self._refresh_files(rec, None)
        return rec

    def _start_dns(self, rec: ContainerRecord) -> None:
        from ..runtime import protocol as proto

        sock = self.service.store.run_dir(rec.id) / "monitor.sock"
        with contextlib.suppress(OSError, ValueError):
            proto.request(str(sock), {"op": "service", "module": "network.dns",
                                      "args": self.dns_args(rec, str(rec.netns))}, timeout=10)

    def _refresh_files(self, rec: ContainerRecord, resolv: str | None) -> None:
        """/etc/hosts (and resolv.conf when given) rewritten in place: the container sees them
        through bind mounts of these very files, so a rename would leave it the old ones."""
        from . import etcfiles

        ips = tuple(str(e["IPAddress"]) for e in rec.networks.values() if e.get("IPAddress"))
        aliases = tuple(a for n in rec.spec.networks for a in n.aliases)
        svc = self.service
        hosts = etcfiles.hosts_file(rec.hostname, ips, rec.spec.extra_hosts, aliases)
        etcfiles.write_in_place(svc._etc_path(rec.id, "/etc/hosts"), hosts)
        if resolv is not None:
            etcfiles.write_in_place(svc._etc_path(rec.id, "/etc/resolv.conf"), resolv)

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
