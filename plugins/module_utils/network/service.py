"""NetworkService: Docker's networks over bridges, veths, nftables and a DNS responder.

Records (``root/networks/<id>.json``) say what networks exist; the kernel objects (bridges,
veths, the firewall table) are made from them on demand, so a reboot that wipes the kernel
state loses nothing: the next connect re-creates the bridge. Every change runs under
``lock("networks")``; readers (``ls``, inspect, the DNS responder) never lock.
"""
from __future__ import annotations

import builtins
import contextlib
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from .. import fsutil
from ..errors import BerthError, Conflict, InvalidSpec, NotFound
from ..paths import Paths
from ..types import Change
from . import filters as netfilters
from . import ipam, nat, netns, portmap, resolvconf
from .model import BUILTIN, DEFAULT_NETWORK, Endpoint, NetworkRecord, NetworkSpec, check_name, inspect
from .store import LOCK, KernelNames, NetworkStore, check_cid


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _bridge_module() -> Any:
    from . import bridge  # pyroute2 comes in with it: only commands that touch links pay for it
    return bridge


class NetworkService:
    def __init__(self, paths: Paths, firewall_backend: str | None = None, links: Any = None) -> None:
        """``links``: what to call bridge.py's SERVER_CALLS through (the engine passes the
        monitor server's, so the CLI never imports pyroute2); None: bridge.py in process."""
        self.paths = paths
        self.store = NetworkStore(paths)
        self.names = KernelNames(paths)
        self._firewall_backend = firewall_backend
        self._links = links

    def _br(self) -> Any:
        return self._links if self._links is not None else _bridge_module()

    @property
    def firewall(self) -> nat.Firewall:
        return nat.Firewall(self.names.table, self.names.chain_prefix, self._firewall_backend)

    def _locked(self) -> Any:
        return fsutil.locked(self.paths.lock(LOCK))

    # --- records ----------------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        have = {r.name for r in self.store.records() if r.builtin}
        if have >= set(BUILTIN):
            return
        with self._locked():
            have = {r.name for r in self.store.records() if r.builtin}
            for name, driver in (("host", "host"), ("none", "null")):
                if name not in have:
                    self.store.save(NetworkRecord(secrets.token_hex(32), name, driver, _now(), builtin=True))
            if DEFAULT_NETWORK not in have:
                self.store.save(self._new_default_record(secrets.token_hex(32), _now()))

    def _new_default_record(self, nid: str, created: str) -> NetworkRecord:
        taken = [IPv4Network(r.subnet) for r in self.store.records() if r.subnet and r.name != DEFAULT_NETWORK]
        pool = ipam.make_pool(None, taken=list(self._br().host_networks()) + taken)
        return NetworkRecord(nid, DEFAULT_NETWORK, "bridge", created, None, str(pool.subnet),
                             str(pool.gateway), "", self.names.default_bridge, builtin=True)

    def get(self, ref: str) -> NetworkRecord:
        self._ensure_builtins()
        return self.store.get(ref)

    def default(self) -> NetworkRecord:
        """The 'bridge' network, created on first use."""
        return self.get(DEFAULT_NETWORK)

    def inspect(self, ref: str) -> dict[str, Any]:
        rec = self.get(ref)
        return inspect(rec, self.store.endpoints(rec.id))

    def list(self, filters: Mapping[str, Sequence[str]] | None = None,
             in_use: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Inspect data of every network matching Docker's ``network ls`` filters."""
        self._ensure_builtins()
        netfilters.check(filters or {})
        used = set(in_use)
        out = []
        for rec in self.store.records():
            data = inspect(rec, self.store.endpoints(rec.id))
            if netfilters.matches(data, rec.builtin, filters or {}, used):
                out.append(data)
        return sorted(out, key=lambda d: d["Name"])

    # --- create and remove --------------------------------------------------------------
    def create(self, name: str, spec: NetworkSpec | None = None) -> dict[str, Any]:
        check_name(name)
        spec = spec or NetworkSpec()
        self._ensure_builtins()
        with self._locked():
            if any(r.name == name for r in self.store.records()):
                raise Conflict(f"network with name {name} already exists", name=name)
            rec = self._plan_record(name, spec)
            self.store.save(rec)
            try:
                self._setup_bridge(rec)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._br().delete_link(rec.bridge)
                self.store.delete(rec)
                with contextlib.suppress(Exception):
                    self._apply_firewall()
                raise
            return inspect(rec, {})

    def _plan_record(self, name: str, spec: NetworkSpec, nid: str | None = None) -> NetworkRecord:
        others = [r for r in self.store.records() if r.subnet and r.name != name]
        user_taken = [IPv4Network(r.subnet) for r in others]
        taken = [] if spec.subnet else list(self._br().host_networks())
        pool = ipam.make_pool(spec.subnet, spec.gateway, spec.ip_range, taken=taken, user_taken=user_taken)
        nid = nid or secrets.token_hex(32)
        bridge = spec.options.get("com.docker.network.bridge.name") or f"br-{nid[:12]}"
        for r in others:
            if r.bridge == bridge:
                raise Conflict(f"bridge name {bridge} is used by network {r.name}", field="options", value=bridge)
        return NetworkRecord(nid, name, spec.driver, _now(), spec, str(pool.subnet), str(pool.gateway),
                             str(pool.ip_range) if pool.ip_range else "", bridge)

    def _setup_bridge(self, rec: NetworkRecord) -> NetworkRecord:
        br = self._br()
        fw = self.firewall
        default = rec.name == DEFAULT_NETWORK and rec.builtin
        # One server call: the bridge checked (or made) and the firewall table looked up.
        got = br.prepare_bridge(rec.bridge, rec.gateway, IPv4Network(rec.subnet).prefixlen, rec.mtu,
                                create=not default, nft_table=fw.table if fw.backend == "nft" else None)
        created, table = got["created"], got["table"]
        if created is None:  # the default bridge is missing: is its subnet still free?
            rec = self._revalidate_default(rec)
            created = br.ensure_bridge(rec.bridge, rec.gateway, IPv4Network(rec.subnet).prefixlen, rec.mtu)
        br.enable_ip_forward()
        if created or not (table if table is not None else fw.exists()):
            self._apply_firewall()
        return rec

    def _revalidate_default(self, rec: NetworkRecord) -> NetworkRecord:
        """Before making the default bridge, make sure its subnet is still free on this host."""
        if self.store.endpoints(rec.id):
            return rec
        host = self._br().host_networks()
        if ipam.overlaps(IPv4Network(rec.subnet), host) is None:
            return rec
        fresh = self._new_default_record(rec.id, rec.created)
        self.store.save(fresh)
        return fresh

    def remove(self, ref: str, force: bool = False) -> str:
        """Remove a network; refused while containers are connected unless ``force``."""
        rec = self.get(ref)
        if rec.builtin:
            raise Conflict(f"{rec.name} is a pre-defined network and cannot be removed", network=rec.name)
        with self._locked():
            eps = self._live_endpoints(rec)
            if eps and not force:
                raise Conflict(f"error while removing network: network {rec.name} id {rec.id} has active "
                               "endpoints", network=rec.name, containers=sorted(eps))
            for cid in list(eps):
                self._disconnect_locked(rec, cid)
            self._br().delete_link(rec.bridge)
            self.store.delete(rec)
            self._apply_firewall()
        return rec.id

    def prune(self, in_use: Iterable[str] = (),
              filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[str]:
        """Remove user networks no container uses (``in_use``: names or ids); their names."""
        used = set(in_use)
        removed = []
        for data in self.list(filters):
            rec = self.store.find(data["Id"])
            if rec is None or rec.builtin or rec.name in used or rec.id in used:
                continue
            with contextlib.suppress(Conflict, NotFound):
                self.remove(rec.id)
                removed.append(rec.name)
        return removed

    def ensure(self, name: str, spec: NetworkSpec | None, apply: bool = True, force: bool = False) -> Change:
        """Make the network match ``spec`` (None: absent). A different spec re-creates it,
        which needs ``force`` while containers are connected."""
        check_name(name)
        if name in BUILTIN:
            raise InvalidSpec(f"{name} is a pre-defined network and cannot be created, changed or removed",
                              field="name", value=name)
        rec = self.store.find(name)
        rec = rec if rec is not None and rec.name == name else None
        before = inspect(rec, self.store.endpoints(rec.id)) if rec else None
        if spec is None:
            if rec is None:
                return Change.none(None)
            if apply:
                self.remove(rec.id, force=force)
            return Change(True, before, None, (f"remove network {name}",))
        if rec is not None and rec.spec == spec:
            return Change.none(before)
        actions = []
        if rec is not None:
            if self.store.endpoints(rec.id) and not force:
                raise Conflict(f"network {name} must be re-created to apply the new settings but has "
                               "containers connected; set force to disconnect them", network=name)
            actions.append(f"remove network {name}")
        actions.append(f"create network {name}")
        if not apply:
            preview = self._plan_record(name, spec, nid=rec.id if rec else "0" * 64)
            return Change(True, before, inspect(preview, {}), tuple(actions))
        if rec is not None:
            self.remove(rec.id, force=force)
        return Change(True, before, self.create(name, spec), tuple(actions))

    def ensure_connected(self, name: str, wanted: Sequence[str], appends: bool,
                         connect: Callable[[str], Any], disconnect: Callable[[str], Any],
                         apply: bool = True) -> Change:
        """Containers on the network: ``wanted`` (names or id prefixes) connected, and with
        ``appends`` false every other one disconnected, as community.docker's ``connected``.
        ``connect``/``disconnect`` take a container reference (the container service's)."""
        rec = self.get(name)
        before = inspect(rec, self.store.endpoints(rec.id))
        current = [(ep.container_id, ep.name) for ep in self.store.endpoints(rec.id).values()]
        to_connect, to_disconnect = plan_connected(current, wanted, appends)
        if not to_connect and not to_disconnect:
            return Change.none(before)
        actions = tuple([f"connect {c} to {name}" for c in to_connect]
                        + [f"disconnect {c} from {name}" for c in to_disconnect])
        if not apply:
            after = dict(before)
            after["Containers"] = {cid: v for cid, v in before["Containers"].items()
                                   if v["Name"] not in to_disconnect}
            return Change(True, before, after, actions)
        for ref in to_disconnect:
            disconnect(ref)
        for ref in to_connect:
            connect(ref)
        return Change(True, before, self.inspect(rec.id), actions)

    def teardown(self) -> None:
        """Remove this root's kernel objects that nothing uses: the default bridge when no
        container is on it, and the firewall table when no bridge is left."""
        with self._locked():
            default = self.store.find(DEFAULT_NETWORK)
            if default is not None and default.builtin and not self._live_endpoints(default):
                self._br().delete_link(default.bridge)
            self._apply_firewall()

    # --- endpoints ------------------------------------------------------------------------
    def netns_path(self, cid: str) -> Path:
        return self.paths.netns / check_cid(cid)

    def create_netns(self, cid: str) -> str:
        return str(netns.create_netns(self.netns_path(cid)))

    def delete_netns(self, cid: str) -> None:
        """Disconnect the container from every network, drop its ports and its namespace."""
        check_cid(cid)
        with self._locked():
            for rec, _ep in self.store.container_endpoints(cid):
                self._disconnect_locked(rec, cid, wait=False)
            if self.store.ports_path(cid).exists():
                self.store.save_ports(cid, None)
                self._apply_firewall()
        netns.delete_netns(self.netns_path(cid))

    def connect(self, network: str, cid: str, netns_path: str, name: str | None = None,
                aliases: Sequence[str] = (), ip: str | None = None, hostname: str | None = None) -> dict[str, Any]:
        """Plug the container's namespace into the network; Docker's endpoint settings back."""
        check_cid(cid)
        rec = self.get(network)
        if rec.driver in ("host", "null"):
            raise Conflict(f"container cannot be disconnected from host network or connected to {rec.name} "
                           "network", network=rec.name)
        if not rec.user_defined:
            if ip:
                raise InvalidSpec("user specified IP address is supported on user defined networks only",
                                  field="ip", value=ip)
            if aliases:
                raise InvalidSpec("network-scoped alias is supported only for containers in user defined "
                                  "networks", field="aliases", value=list(aliases))
        br = self._br()
        with self._locked():
            rec = self._setup_bridge(self.store.get(rec.id))
            eps = self.store.endpoints(rec.id)
            old = eps.get(cid)
            if old is not None:
                if br.link_exists(old.host_ifname):
                    raise Conflict(f"endpoint with name {old.name} already exists in network {rec.name}",
                                   network=rec.name, container=cid)
                del eps[cid]  # stale: its namespace went away without a disconnect
            pool = ipam.Pool.from_dict({"Subnet": rec.subnet, "Gateway": rec.gateway, "IPRange": rec.ip_range})
            addr = str(ipam.Ipam(pool, [e.ip for e in eps.values()], rec.name).allocate(ip))
            mac = ipam.mac_for(addr)
            prefixlen = IPv4Network(rec.subnet).prefixlen
            plugged = br.plug(rec.bridge, str(netns_path), addr, prefixlen, mac,
                              None if rec.internal else rec.gateway, rec.mtu)
            host_if, ifname, route = plugged["host_ifname"], plugged["ifname"], plugged["default_route"]
            cname = (name or cid[:12]).lstrip("/")
            dns_names: tuple[str, ...] = ()
            if rec.user_defined:
                dns_names = tuple(dict.fromkeys(n for n in (cname, *aliases, cid[:12], hostname or "") if n))
            ep = Endpoint(cid, cname, secrets.token_hex(32), addr, prefixlen, mac, host_if, ifname,
                          str(netns_path), tuple(aliases), dns_names, rec.gateway, route, hostname or "")
            eps[cid] = ep
            try:
                self.store.save_endpoints(rec.id, eps)
            except BaseException:
                br.delete_link(host_if)
                raise
            return ep.settings(rec)

    def disconnect(self, network: str, cid: str, force: bool = False) -> None:
        check_cid(cid)
        rec = self.get(network)
        with self._locked():
            if cid not in self.store.endpoints(rec.id):
                if force:
                    return
                raise NotFound(f"container {cid} is not connected to network {rec.name}", network=rec.name,
                               container=cid)
            self._disconnect_locked(rec, cid)

    def _disconnect_locked(self, rec: NetworkRecord, cid: str, wait: bool = True) -> None:
        """``wait=False``: the namespace goes away next, so the veth's deletion need not be
        waited for (the server does it after answering)."""
        br = self._br()
        eps = self.store.endpoints(rec.id)
        ep = eps.pop(cid, None)
        if ep is None:
            return
        if wait:
            br.delete_link(ep.host_ifname)
        else:
            br.discard_link(ep.host_ifname)
        self.store.save_endpoints(rec.id, eps)
        ports = self.store.ports().get(cid)
        if ports and ports.get("ip") == ep.ip:
            self.store.save_ports(cid, None)
            self._apply_firewall()
        if ep.default_route:
            self._rehome_default_route(cid, ep.netns)

    def _rehome_default_route(self, cid: str, netns_path: str) -> None:
        """Docker moves the default route to another network when its network leaves."""
        br = self._br()
        if not netns.is_netns(netns_path):
            return
        for rec, ep in self.store.container_endpoints(cid):
            if rec.internal:
                continue
            with contextlib.suppress(BerthError):
                br.set_default_route(netns_path, ep.ifname, ep.gateway)
                eps = self.store.endpoints(rec.id)
                eps[cid] = Endpoint.from_dict({**ep.to_dict(), "default_route": True})
                self.store.save_endpoints(rec.id, eps)
                return

    def _live_endpoints(self, rec: NetworkRecord) -> dict[str, Endpoint]:
        """Endpoints whose veth still exists; records of vanished ones are dropped."""
        eps = self.store.endpoints(rec.id)
        if not eps:
            return eps
        br = self._br()
        live = {cid: ep for cid, ep in eps.items() if br.link_exists(ep.host_ifname)}
        if len(live) != len(eps):
            self.store.save_endpoints(rec.id, live)
        return live

    def endpoints(self, cid: str) -> dict[str, dict[str, Any]]:
        """Docker's NetworkSettings.Networks of a container: network name -> settings."""
        return {rec.name: ep.settings(rec) for rec, ep in self.store.container_endpoints(check_cid(cid))}

    # --- published ports ----------------------------------------------------------------
    def publish(self, cid: str, bindings: Iterable[Mapping[str, Any]] | Mapping[str, Any],
                container_ip: str) -> builtins.list[dict[str, Any]]:
        """DNAT host ports to ``container_ip``; the bindings back with host ports chosen."""
        check_cid(cid)
        if isinstance(bindings, Mapping):
            bindings = portmap.from_port_bindings(bindings)
        bindings = list(bindings)
        with self._locked():
            rec = self._network_of(cid, container_ip)
            if rec.internal:
                return []  # Docker publishes nothing from an internal network
            taken = [(b["protocol"], b["host_ip"], int(b["host_port"]))
                     for other, data in self.store.ports().items() if other != cid
                     for b in data.get("bindings", [])]
            chosen = portmap.allocate(bindings, taken)
            self.store.save_ports(cid, {"ip": container_ip, "bridge": rec.bridge, "bindings": chosen})
            try:
                self._apply_firewall()
            except BaseException:
                self.store.save_ports(cid, None)
                raise
            return chosen

    def _network_of(self, cid: str, ip: str) -> NetworkRecord:
        for rec, ep in self.store.container_endpoints(cid):
            if ep.ip == ip:
                return rec
        raise NotFound(f"container {cid} has no endpoint with address {ip}", container=cid, ip=ip)

    def unpublish(self, cid: str) -> None:
        with self._locked():
            if self.store.ports_path(cid).exists():
                self.store.save_ports(cid, None)
                self._apply_firewall()

    def ports(self, cid: str) -> builtins.list[dict[str, Any]]:
        return list((self.store.ports().get(check_cid(cid)) or {}).get("bindings", []))

    def _apply_firewall(self) -> None:
        br = self._br()
        bridges = []
        for rec in self.store.records():
            if rec.is_bridge and br.link_exists(rec.bridge):
                bridges.append(nat.BridgeRules(rec.bridge, rec.subnet, rec.internal, rec.masquerade))
        live = {b.bridge for b in bridges}
        rules = []
        for _cid, data in sorted(self.store.ports().items()):
            if data.get("bridge") not in live:
                continue
            for b in data.get("bindings", []):
                rules.append(nat.PortRule(b["protocol"], b["host_ip"], int(b["host_port"]), data["ip"],
                                          int(b["container_port"]), data["bridge"]))
        self.firewall.apply(bridges, rules)

    # --- files for the container --------------------------------------------------------
    def resolv_conf(self, networks: Sequence[str], dns: Sequence[str] = (), dns_search: Sequence[str] = (),
                    dns_options: Sequence[str] = (), host_resolv_conf: str = resolvconf.HOST_RESOLV_CONF) -> str:
        """The container's resolv.conf for the networks it is on (names or ids)."""
        host = resolvconf.read_host(host_resolv_conf)
        recs = [self.get(n) for n in networks]
        if any(r.driver == "host" for r in recs):
            try:
                with open(host_resolv_conf) as f:
                    return f.read()
            except OSError:
                pass
        embedded = any(r.user_defined and r.is_bridge for r in recs)
        return resolvconf.container_resolv_conf(host, embedded, dns, dns_search, dns_options)

    def hosts(self, cid: str, hostname: str | None = None,
              extra_hosts: Iterable[tuple[str, str]] = ()) -> str:
        """/etc/hosts: loopback names, ``--add-host`` entries, the container's first address."""
        attached = self.store.container_endpoints(check_cid(cid))
        ip = attached[0][1].ip if attached else None
        name = hostname or (attached[0][1].hostname if attached else "") or cid[:12]
        return resolvconf.hosts_file(ip, [name], extra_hosts)


def plan_connected(current: Sequence[tuple[str, str]], wanted: Sequence[str],
                   appends: bool) -> tuple[list[str], list[str]]:
    """(container id, name) pairs on the network and the wanted references -> (references to
    connect, names to disconnect). A reference matches a name, or an id by prefix."""
    def matches(ref: str, cid: str, cname: str) -> bool:
        return ref == cname or ref.lstrip("/") == cname or (len(ref) >= 1 and cid.startswith(ref))

    to_connect = [ref for ref in dict.fromkeys(wanted)
                  if not any(matches(ref, cid, cname) for cid, cname in current)]
    to_disconnect = [] if appends else [cname for cid, cname in current
                                        if not any(matches(ref, cid, cname) for ref in wanted)]
    return to_connect, to_disconnect
