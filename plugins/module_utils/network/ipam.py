"""IPv4 address management for bridge networks, pure.

Subnets come from Docker's default address pools (172.17.0.0/16 ... 172.31.0.0/16, then
192.168.0.0/16 cut into /20s) unless the user names one. Inside a subnet the network address,
the broadcast address and the gateway are never handed out; containers get the lowest free
address of the subnet, or of ``--ip-range`` when one is given.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..errors import Conflict, InvalidSpec, NetworkError

# Docker's default-address-pools: (base, size of each subnet cut from it).
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    *((f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    ("192.168.0.0/16", 20),
)
# The smallest subnet that holds a gateway and one container.
MAX_PREFIXLEN = 30


def candidate_subnets(pools: Iterable[tuple[str, int]] = DEFAULT_POOLS) -> Iterator[IPv4Network]:
    for base, size in pools:
        yield from IPv4Network(base).subnets(new_prefix=size)


def overlaps(net: IPv4Network, others: Iterable[IPv4Network]) -> IPv4Network | None:
    for other in others:
        if net.overlaps(other):
            return other
    return None


def choose_subnet(taken: Iterable[IPv4Network],
                  pools: Iterable[tuple[str, int]] = DEFAULT_POOLS) -> IPv4Network:
    """The first default-pool subnet that overlaps nothing in ``taken``."""
    taken = list(taken)
    for candidate in candidate_subnets(pools):
        if overlaps(candidate, taken) is None:
            return candidate
    raise NetworkError("could not find an available, non-overlapping IPv4 address pool among the "
                       "defaults to assign to the network")


def parse_subnet(value: str, field: str = "subnet") -> IPv4Network:
    try:
        net = IPv4Network(value, strict=False)
    except (ValueError, TypeError) as exc:
        raise InvalidSpec(f"invalid {field} {value!r}: expected an IPv4 CIDR such as 172.20.0.0/16",
                          field=field, value=value) from exc
    if "/" not in str(value):
        raise InvalidSpec(f"invalid {field} {value!r}: a prefix length is required (for example "
                          f"{value}/24)", field=field, value=value)
    if str(net) != str(value).strip():
        raise InvalidSpec(f"invalid {field} {value!r}: host bits are set, did you mean {net}?",
                          field=field, value=value)
    return net


def parse_address(value: str, field: str) -> IPv4Address:
    try:
        return IPv4Address(value)
    except (ValueError, TypeError) as exc:
        raise InvalidSpec(f"invalid {field} {value!r}: expected an IPv4 address", field=field,
                          value=value) from exc


@dataclass(frozen=True)
class Pool:
    """The IPAM configuration of one network: its subnet, gateway and optional sub-range."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None

    @property
    def reserved(self) -> frozenset[IPv4Address]:
        return frozenset({self.subnet.network_address, self.subnet.broadcast_address, self.gateway})

    def to_dict(self) -> dict[str, Any]:
        return {"Subnet": str(self.subnet), "Gateway": str(self.gateway),
                "IPRange": str(self.ip_range) if self.ip_range else ""}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pool:
        return cls(IPv4Network(d["Subnet"]), IPv4Address(d["Gateway"]),
                   IPv4Network(d["IPRange"]) if d.get("IPRange") else None)


def make_pool(subnet: str | None, gateway: str | None = None, ip_range: str | None = None,
              taken: Iterable[IPv4Network] = (), pools: Iterable[tuple[str, int]] = DEFAULT_POOLS,
              user_taken: Iterable[IPv4Network] = ()) -> Pool:
    """Validate the user's IPAM settings, filling what is missing from the default pools.

    ``taken`` are subnets a pool-chosen subnet must avoid (other networks, host routes);
    ``user_taken`` are those a user-given subnet must avoid (other berth networks only, as
    Docker checks: a route on the host is the user's business).
    """
    if subnet:
        net = parse_subnet(subnet)
        clash = overlaps(net, user_taken)
        if clash is not None:
            raise Conflict(f"invalid pool request: subnet {net} overlaps with {clash} of another network",
                           field="subnet", value=subnet)
    else:
        if gateway or ip_range:
            which = "gateway" if gateway else "ip_range"
            raise InvalidSpec(f"{which} requires a subnet: give the subnet too", field=which,
                              value=gateway or ip_range)
        net = choose_subnet(list(taken) + list(user_taken), pools)
    if net.prefixlen > MAX_PREFIXLEN:
        raise InvalidSpec(f"invalid subnet {net}: too small, the prefix length must be at most "
                          f"/{MAX_PREFIXLEN}", field="subnet", value=str(net))
    rng = None
    if ip_range:
        rng = parse_subnet(ip_range, "ip_range")
        if not rng.subnet_of(net):
            raise InvalidSpec(f"invalid ip_range {rng}: it is not inside subnet {net}", field="ip_range",
                              value=ip_range)
    if gateway:
        gw = parse_address(gateway, "gateway")
        if gw not in net:
            raise InvalidSpec(f"invalid gateway {gw}: it is not inside subnet {net}", field="gateway",
                              value=gateway)
        if gw in (net.network_address, net.broadcast_address):
            raise InvalidSpec(f"invalid gateway {gw}: the network and broadcast addresses of {net} "
                              "cannot be a gateway", field="gateway", value=gateway)
    else:
        gw = net.network_address + 1
    return Pool(net, gw, rng)


class Ipam:
    """Addresses in use on one network; allocation is lowest-free, release frees at once."""

    def __init__(self, pool: Pool, used: Iterable[IPv4Address | str] = (), network: str = "") -> None:
        self.pool = pool
        self.network = network
        self.used: set[IPv4Address] = {IPv4Address(a) for a in used}

    def allocate(self, requested: str | IPv4Address | None = None) -> IPv4Address:
        pool = self.pool
        if requested is not None:
            addr = parse_address(str(requested), "ip")
            if addr not in pool.subnet:
                raise InvalidSpec(f"invalid ip {addr}: it is not inside subnet {pool.subnet} of network "
                                  f"{self.network}", field="ip", value=str(requested))
            if addr in pool.reserved:
                what = "gateway" if addr == pool.gateway else "network or broadcast address"
                raise InvalidSpec(f"invalid ip {addr}: it is the {what} of network {self.network}",
                                  field="ip", value=str(requested))
            if addr in self.used:
                raise Conflict(f"address {addr} is already in use on network {self.network}",
                               field="ip", value=str(requested))
            self.used.add(addr)
            return addr
        rng = pool.ip_range or pool.subnet
        reserved = pool.reserved
        # Walk integers rather than hosts(): a /8 range must not build a 16M-entry list.
        first, last = int(rng.network_address), int(rng.broadcast_address)
        for n in range(first, last + 1):
            addr = IPv4Address(n)
            if addr not in reserved and addr not in self.used:
                self.used.add(addr)
                return addr
        raise NetworkError(f"no available IPv4 addresses on network {self.network}: "
                           f"{rng} is exhausted", network=self.network)

    def release(self, addr: str | IPv4Address) -> None:
        self.used.discard(IPv4Address(addr))


def mac_for(addr: IPv4Address | str) -> str:
    """Docker's MAC for an address: 02:42 followed by the four bytes of the IPv4 address."""
    packed = ipaddress.IPv4Address(addr).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)
