"""Firewall rules of one berth root: masquerade, published ports, isolation, internal networks.

The whole rule set is a pure function of the networks and published ports (``render_nft`` /
``render_iptables``), and it is replaced in one transaction each time either changes: with
nftables, a table of berth's own (``table ip berth``) loaded with ``nft -f``; where nft is
missing, chains of berth's own loaded with ``iptables-restore --noflush`` and jumped to from
the built-in chains. When no bridge is left the table (or the chains) go away.

What the rules do, as Docker's do with its userland proxy off:
- masquerade traffic leaving a bridge subnet for anywhere but the bridge itself;
- DNAT published ports for packets addressed to any local address, arriving (prerouting) or
  made on the host (output), so 127.0.0.1:PORT works too: the bridge has route_localnet set
  and loopback-sourced packets leaving through it are masqueraded;
- masquerade DNAT'd connections that leave through the bridge they came from (hairpin);
- drop forwarding between two different berth bridges (DOCKER-ISOLATION);
- drop forwarding into or out of an internal network's bridge.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MissingDependency, NetworkError


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool = False
    masquerade: bool = True


@dataclass(frozen=True)
class PortRule:
    proto: str            # tcp | udp
    host_ip: str          # "" or "0.0.0.0" for every local address
    host_port: int
    container_ip: str
    container_port: int
    bridge: str


def _q(name: str) -> str:
    return '"' + name + '"'


def render_nft(table: str, bridges: Sequence[BridgeRules], ports: Sequence[PortRule]) -> str:
    """The body of ``table ip <table>``; empty when there is nothing to do."""
    if not bridges:
        return ""
    publish = []
    for p in ports:
        match = "" if p.host_ip in ("", "0.0.0.0") else f"ip daddr {p.host_ip} "
        publish.append(f"{match}{p.proto} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}")
    post = []
    forward = []
    names = [b.bridge for b in bridges]
    for b in bridges:
        if b.masquerade and not b.internal:
            post.append(f"ip saddr {b.subnet} oifname != {_q(b.bridge)} masquerade")
        post.append(f"oifname {_q(b.bridge)} ip saddr 127.0.0.0/8 masquerade")
        post.append(f"oifname {_q(b.bridge)} ip saddr {b.subnet} ct status dnat masquerade")
        others = [n for n in names if n != b.bridge]
        if others:
            forward.append(f"iifname {_q(b.bridge)} oifname {{ {', '.join(_q(n) for n in others)} }} drop")
        if b.internal:
            forward.append(f"iifname {_q(b.bridge)} oifname != {_q(b.bridge)} drop")
            forward.append(f"oifname {_q(b.bridge)} iifname != {_q(b.bridge)} drop")

    def chain(name: str, header: str | None, rules: list[str]) -> str:
        lines = [f"\tchain {name} {{"]
        if header:
            lines.append(f"\t\t{header}")
        lines += [f"\t\t{r}" for r in rules]
        lines.append("\t}")
        return "\n".join(lines)

    parts = [
        chain("publish", None, publish),
        chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;",
              ["fib daddr type local jump publish"]),
        chain("output", "type nat hook output priority -100; policy accept;",
              ["fib daddr type local jump publish"]),
        chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post),
        chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    ]
    return "\n".join(parts)


def nft_script(table: str, body: str) -> str:
    """Replace the table in one transaction (or remove it when ``body`` is empty)."""
    # Declaring the table first makes the delete valid whether or not it exists.
    script = f"table ip {table} {{\n}}\ndelete table ip {table}\n"
    if body:
        script += f"table ip {table} {{\n{body}\n}}\n"
    return script


# --- iptables fallback --------------------------------------------------------------------

def iptables_chains(prefix: str) -> dict[str, list[tuple[str, str]]]:
    """table -> [(our chain, built-in chain that jumps to it)]."""
    return {
        "nat": [(f"{prefix}-PREROUTING", "PREROUTING"), (f"{prefix}-OUTPUT", "OUTPUT"),
                (f"{prefix}-POSTROUTING", "POSTROUTING"), (f"{prefix}-PUBLISH", "")],
        "filter": [(f"{prefix}-FORWARD", "FORWARD")],
    }


def render_iptables(prefix: str, bridges: Sequence[BridgeRules], ports: Sequence[PortRule]) -> str:
    """iptables-restore input for our chains (declaring a chain flushes it with --noflush)."""
    chains = iptables_chains(prefix)
    pre, out, post, pub, fwd = (f"{prefix}-PREROUTING", f"{prefix}-OUTPUT", f"{prefix}-POSTROUTING",
                                f"{prefix}-PUBLISH", f"{prefix}-FORWARD")
    nat = [f":{c} - [0:0]" for c, _ in chains["nat"]]
    nat.append(f"-A {pre} -m addrtype --dst-type LOCAL -j {pub}")
    nat.append(f"-A {out} -m addrtype --dst-type LOCAL -j {pub}")
    for p in ports:
        match = "" if p.host_ip in ("", "0.0.0.0") else f"-d {p.host_ip}/32 "
        nat.append(f"-A {pub} {match}-p {p.proto} -m {p.proto} --dport {p.host_port} "
                   f"-j DNAT --to-destination {p.container_ip}:{p.container_port}")
    filt = [f":{c} - [0:0]" for c, _ in chains["filter"]]
    names = [b.bridge for b in bridges]
    for b in bridges:
        if b.masquerade and not b.internal:
            nat.append(f"-A {post} -s {b.subnet} ! -o {b.bridge} -j MASQUERADE")
        nat.append(f"-A {post} -s 127.0.0.0/8 -o {b.bridge} -j MASQUERADE")
        nat.append(f"-A {post} -s {b.subnet} -o {b.bridge} -m conntrack --ctstate DNAT -j MASQUERADE")
        for other in names:
            if other != b.bridge:
                filt.append(f"-A {fwd} -i {b.bridge} -o {other} -j DROP")
        if b.internal:
            filt.append(f"-A {fwd} -i {b.bridge} ! -o {b.bridge} -j DROP")
            filt.append(f"-A {fwd} -o {b.bridge} ! -i {b.bridge} -j DROP")
    return "*nat\n" + "\n".join(nat) + "\nCOMMIT\n*filter\n" + "\n".join(filt) + "\nCOMMIT\n"


class Firewall:
    """Applies the rendered rules with nft, or iptables where nft is missing."""

    def __init__(self, table: str, chain_prefix: str, backend: str | None = None) -> None:
        self.table = table
        self.chain_prefix = chain_prefix
        if backend is None:
            backend = "nft" if shutil.which("nft") else "iptables" if shutil.which("iptables") else ""
        if backend not in ("nft", "iptables"):
            raise MissingDependency("neither nft (nftables) nor iptables is installed: bridge networks "
                                    "need one of them for NAT and isolation")
        self.backend = backend

    def apply(self, bridges: Sequence[BridgeRules], ports: Sequence[PortRule]) -> None:
        if self.backend == "nft":
            self._run(["nft", "-f", "-"], nft_script(self.table, render_nft(self.table, bridges, ports)))
        elif bridges:
            self._run(["iptables-restore", "--noflush", "-w"],
                      render_iptables(self.chain_prefix, bridges, ports))
            self._ensure_jumps()
        else:
            self._remove_iptables()

    def remove(self) -> None:
        self.apply([], [])

    def _run(self, argv: list[str], script: str) -> None:
        try:
            proc = subprocess.run(argv, input=script, capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise MissingDependency(f"{argv[0]} is not installed", tool=argv[0]) from exc
        if proc.returncode != 0:
            raise NetworkError(f"{argv[0]} refused berth's rules: {proc.stderr.strip()}",
                               tool=argv[0], script=script)

    def _ipt(self, table: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["iptables", "-w", "-t", table, *args], capture_output=True, text=True,
                              check=False)

    def _ensure_jumps(self) -> None:
        for table, pairs in iptables_chains(self.chain_prefix).items():
            for ours, builtin in pairs:
                if builtin and self._ipt(table, "-C", builtin, "-j", ours).returncode != 0:
                    proc = self._ipt(table, "-I", builtin, "1", "-j", ours)
                    if proc.returncode != 0:
                        raise NetworkError(f"iptables: cannot jump from {builtin} to {ours}: "
                                           f"{proc.stderr.strip()}")

    def _remove_iptables(self) -> None:
        for table, pairs in iptables_chains(self.chain_prefix).items():
            for ours, builtin in pairs:
                if builtin:
                    while self._ipt(table, "-C", builtin, "-j", ours).returncode == 0:
                        self._ipt(table, "-D", builtin, "-j", ours)
            for ours, _ in pairs:
                self._ipt(table, "-F", ours)
            for ours, _ in pairs:
                self._ipt(table, "-X", ours)

    def exists(self) -> bool:
        if self.backend == "nft":
            proc = subprocess.run(["nft", "list", "table", "ip", self.table], capture_output=True, check=False)
            return proc.returncode == 0
        return self._ipt("nat", "-S", f"{self.chain_prefix}-POSTROUTING").returncode == 0
