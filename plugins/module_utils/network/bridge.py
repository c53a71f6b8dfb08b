"""Links, addresses and routes through netlink (pyroute2): bridges, veth pairs, default routes.

This is the one place that imports pyroute2. Work inside a container's namespace runs in a
short-lived thread that entered it (netns.run_in_netns) with a netlink socket opened there.

Importing pyroute2 costs ~110 ms, more than the rest of `berth run`: the calls listed in
SERVER_CALLS take and return plain JSON data so that the engine can run them in the warm
monitor server (which imports pyroute2 once, see ``server_warm_up``) instead of in the CLI.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Iterator
from typing import Any

from ..errors import NetworkError, require
from .netns import run_in_netns

_HOST_IF_PREFIX = "veth"


def _iproute() -> Any:
    return require("pyroute2", "bridge networks (links, addresses and routes through netlink)").IPRoute


@contextlib.contextmanager
def netlink() -> Iterator[Any]:
    ipr = _iproute()()
    try:
        yield ipr
    finally:
        ipr.close()


def _error(what: str, exc: Exception) -> NetworkError:
    code = getattr(exc, "code", None)
    reason = os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)
    return NetworkError(f"{what}: {reason}", errno=code)


def _index(ipr: Any, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def link_exists(ifname: str) -> bool:
    with netlink() as ipr:
        return _index(ipr, ifname) is not None


def _write_sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def enable_ip_forward() -> None:
    """Routing between bridges and the outside needs it; Docker turns it on the same way."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() == "1":
            return
    _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")


def ensure_bridge(name: str, gateway: str, prefixlen: int, mtu: int | None = None,
                  create: bool = True) -> bool | None:
    """Create the bridge (if missing) with the gateway address, up. True when it was created;
    None when it is missing and ``create`` is false (the caller has checks to make first)."""
    created = False
    with netlink() as ipr:
        idx = _index(ipr, name)
        if idx is None and not create:
            return None
        try:
            if idx is None:
                kw: dict[str, Any] = {"ifname": name, "kind": "bridge"}
                if mtu:
                    kw["mtu"] = mtu
                ipr.link("add", **kw)
                created = True
                idx = _index(ipr, name)
            have = {(a.get("IFA_ADDRESS") or a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                    for a in ipr.get_addr(index=idx, family=2)}
            if (gateway, prefixlen) not in have:
                ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")
        except Exception as exc:
            if created:
                with contextlib.suppress(Exception):
                    ipr.link("del", index=idx)
            raise _error(f"cannot set up bridge {name}", exc) from exc
    # Published ports answer on 127.0.0.1: DNAT in output sends loopback-sourced packets
    # out of the bridge, which the kernel drops unless the bridge allows it.
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    return created


def delete_link(name: str) -> bool:
    """Delete a link (a veth takes its peer with it). False when it was already gone."""
    with netlink() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except Exception as exc:
            if getattr(exc, "code", None) == 19:  # ENODEV: gone meanwhile
                return False
            raise _error(f"cannot delete link {name}", exc) from exc
    return True


def host_networks() -> list[ipaddress.IPv4Network]:
    """Subnets the host already routes or sits on: a new network must not overlap them."""
    nets = []
    with netlink() as ipr:
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"] > 0:
                nets.append(ipaddress.IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
        for a in ipr.get_addr(family=2):
            addr = a.get_attr("IFA_ADDRESS")
            if addr and not addr.startswith("127."):
                nets.append(ipaddress.IPv4Network(f"{addr}/{a['prefixlen']}", strict=False))
    return nets


def host_addresses() -> list[str]:
    with netlink() as ipr:
        return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2)]


def netns_links(netns_path: str) -> list[str]:
    def inside() -> list[str]:
        with netlink() as ipr:
            return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return run_in_netns(netns_path, inside)


def new_host_ifname() -> str:
    """``veth`` and 7 hex digits, as Docker names the host side of an endpoint."""
    with netlink() as ipr:
        for _ in range(16):
            name = _HOST_IF_PREFIX + secrets.token_hex(4)[:7]
            if _index(ipr, name) is None:
                return name
    raise NetworkError("cannot find a free veth name")


def create_endpoint(bridge: str, netns_path: str, host_ifname: str, ifname: str, ip: str,
                    prefixlen: int, mac: str, gateway: str | None, mtu: int | None = None) -> None:
    """A veth pair: one end on the bridge, the other moved into the namespace as ``ifname``.

    ``gateway`` set: the container's default route goes through it. On failure nothing is
    left behind (deleting the host end removes its peer wherever it is).
    """
    tmp = "vb" + host_ifname[len(_HOST_IF_PREFIX):]
    with netlink() as ipr:
        br = _index(ipr, bridge)
        if br is None:
            raise NetworkError(f"bridge {bridge} does not exist", bridge=bridge)
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # The peer is born in the container's namespace: moving it there afterwards would
            # cost the kernel a synchronize_net (~15 ms).
            peer: dict[str, Any] = {"ifname": tmp, "net_ns_fd": fd}
            kw: dict[str, Any] = {"ifname": host_ifname, "kind": "veth", "peer": peer}
            if mtu:
                kw["mtu"] = mtu
                peer["mtu"] = mtu
            ipr.link("add", **kw)
        except Exception as exc:
            raise _error(f"cannot create veth pair {host_ifname}", exc) from exc
        finally:
            os.close(fd)
        try:
            host = _index(ipr, host_ifname)
            ipr.link("set", index=host, master=br)
            ipr.link("set", index=host, state="up")
            _write_sysctl(f"/sys/class/net/{host_ifname}/brport/hairpin_mode", "1")
            run_in_netns(netns_path, lambda: _configure_inside(tmp, ifname, ip, prefixlen, mac, gateway))
        except Exception as exc:
            with contextlib.suppress(Exception):
                ipr.link("del", index=_index(ipr, host_ifname))
            if isinstance(exc, NetworkError):
                raise
            raise _error(f"cannot attach {ifname} in {netns_path} to {bridge}", exc) from exc


def _configure_inside(tmp: str, ifname: str, ip: str, prefixlen: int, mac: str,
                      gateway: str | None) -> None:
    with netlink() as ipr:
        idx = _index(ipr, tmp)
        if idx is None:
            raise NetworkError(f"interface {tmp} did not arrive in the container's namespace")
        ipr.link("set", index=idx, ifname=ifname, address=mac)
        ipr.addr("add", index=idx, address=ip, prefixlen=prefixlen)
        ipr.link("set", index=idx, state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=idx)


def plug(bridge: str, netns_path: str, ip: str, prefixlen: int, mac: str, gateway: str | None,
         mtu: int | None = None) -> dict[str, Any]:
    """Everything `connect` asks of the kernel, in one call: the next free ``ethN`` in the
    namespace, a fresh host-side name, the veth pair on ``bridge``; the default route via
    ``gateway`` unless the namespace has one already (None: never).

    Returns {"host_ifname", "ifname", "default_route"}.
    """
    def inside() -> tuple[list[str], bool]:
        with netlink() as ipr:
            names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
            routed = any(r["dst_len"] == 0 for r in ipr.get_routes(family=2, table=254))
            return names, routed
    names, routed = run_in_netns(netns_path, inside)
    ifname = next(f"eth{i}" for i in range(len(names) + 1) if f"eth{i}" not in names)
    route = bool(gateway) and not routed
    host_if = new_host_ifname()
    create_endpoint(bridge, netns_path, host_if, ifname, ip, prefixlen, mac, gateway if route else None, mtu)
    return {"host_ifname": host_if, "ifname": ifname, "default_route": route}


def nft_table_exists(table: str, family: int = 2) -> bool:
    """Whether nftables has ``table`` (family ip), asked over netlink: `nft list table` costs a
    process (~7 ms) on every connect."""
    from pyroute2.nftables.main import NFTables

    with NFTables() as nft:
        return any(t.get_attr("NFTA_TABLE_NAME") == table and t["nfgen_family"] == family
                   for t in nft.get_tables())


def prepare_bridge(name: str, gateway: str, prefixlen: int, mtu: int | None = None, create: bool = True,
                   nft_table: str | None = None) -> dict[str, Any]:
    """``ensure_bridge`` and, when ``nft_table`` is given, whether nftables has that table: what
    a connect asks before plugging, in one call. {"created": True|False|None, "table": bool|None}."""
    created = ensure_bridge(name, gateway, prefixlen, mtu, create)
    table = None
    if nft_table is not None and created is not None:
        try:
            table = nft_table_exists(nft_table)
        except Exception:  # noqa: BLE001 - no netlink nftables: the caller asks nft
            table = None
    return {"created": created, "table": table}


def discard_link(name: str) -> None:
    """Delete a link nobody waits for (a container's veth at its removal: the kernel takes
    ~25 ms to delete a veth, and a dying namespace would take its end along anyway)."""
    delete_link(name)


def server_warm_up() -> None:
    """Import pyroute2 now (in the monitor server, before it forks anything)."""
    _iproute()
    with contextlib.suppress(ImportError):
        import pyroute2.nftables.main  # noqa: F401


def has_default_route(netns_path: str) -> bool:
    def inside() -> bool:
        with netlink() as ipr:
            return any(r["dst_len"] == 0 for r in ipr.get_routes(family=2, table=254))
    return run_in_netns(netns_path, inside)


def set_default_route(netns_path: str, ifname: str, gateway: str) -> None:
    def inside() -> None:
        with netlink() as ipr:
            idx = _index(ipr, ifname)
            if idx is None:
                raise NetworkError(f"no interface {ifname} in {netns_path}")
            ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=idx)
    try:
        run_in_netns(netns_path, inside)
    except NetworkError:
        raise
    except Exception as exc:
        raise _error(f"cannot set the default route via {gateway} in {netns_path}", exc) from exc


# Called by name through the monitor server (plain data in and out); see the module doc.
SERVER_CALLS = {fn.__name__: fn for fn in (
    link_exists, ensure_bridge, delete_link, host_addresses, netns_links, has_default_route,
    new_host_ifname, plug, set_default_route, discard_link, nft_table_exists, prepare_bridge)}
# Calls the server answers before it runs them: the caller does not wait for the work.
SERVER_REPLY_FIRST = ("discard_link",)
