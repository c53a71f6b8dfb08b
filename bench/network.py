#!/usr/bin/env python3
"""Network throughput benchmark: berth's bridge and published ports against a bare veth.

TCP throughput measured with iperf3 (one stream, ``-t`` seconds) between:

- floor:    two plain network namespaces joined by one veth pair (no bridge, no firewall);
- bridge:   two namespaces on a berth user-defined bridge network (veth -> bridge -> veth,
            with berth's nftables table loaded: isolation, masquerade, br_netfilter's hooks);
- publish:  the host to a published port on its own address (DNAT in the output hook,
            then the bridge);
- hairpin:  a namespace on the bridge to the other's published port through the host's
            address (DNAT in prerouting, masquerade back into the bridge).

The endpoints are bare namespaces connected through berth's NetworkService (what a
container's network is; the container service may switch them to real containers).
Runs are interleaved and repeated; medians and ratios to the floor are printed.

    .venv/bin/python bench/network.py [--reps 5] [--seconds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from ansible_collections.berth.engine.plugins.module_utils.network.model import NetworkSpec  # noqa: E402
from ansible_collections.berth.engine.plugins.module_utils.network.service import NetworkService  # noqa: E402
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths  # noqa: E402

PORT = 5201


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def host_address() -> str:
    for link in json.loads(sh("ip", "-j", "-4", "addr", "show", "scope", "global").stdout):
        if link["ifname"].startswith(("veth", "br-", "berth")):
            continue
        for a in link.get("addr_info", []):
            return a["local"]
    raise SystemExit("the host has no global IPv4 address")


class Server:
    """``iperf3 -s`` in a namespace, until stopped."""

    def __init__(self, netns: str) -> None:
        self.proc = subprocess.Popen(["nsenter", f"--net={netns}", "iperf3", "-s", "-p", str(PORT)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            listing = sh("nsenter", f"--net={netns}", "ss", "-ltnH", check=False).stdout
            if f":{PORT} " in listing:
                return
            time.sleep(0.02)
        raise SystemExit("iperf3 did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def client(netns: str | None, target: str, port: int, seconds: float) -> float:
    """Gbit/s received by the server, as iperf3 measured it."""
    argv = ["iperf3", "-c", target, "-p", str(port), "-t", str(seconds), "-J"]
    if netns:
        argv = ["nsenter", f"--net={netns}", *argv]
    out = json.loads(sh(*argv).stdout)
    return out["end"]["sum_received"]["bits_per_second"] / 1e9


class Floor:
    """Two namespaces and one veth between them, with ``ip`` alone."""

    def __init__(self, base: Path) -> None:
        tag = secrets.token_hex(3)
        self.a, self.b = str(base / "floor-a"), str(base / "floor-b")
        self.names = (f"fa{tag}", f"fb{tag}")
        for ns in (self.a, self.b):
            Path(ns).touch()
            sh("unshare", f"--net={ns}", "true")
        sh("ip", "link", "add", self.names[0], "type", "veth", "peer", "name", self.names[1])
        for ns, ifname, addr in ((self.a, self.names[0], "10.251.0.1/30"), (self.b, self.names[1], "10.251.0.2/30")):
            sh("ip", "link", "set", ifname, "netns", ns)
            for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", addr, "dev", ifname],
                        ["ip", "link", "set", ifname, "up"]):
                sh("nsenter", f"--net={ns}", *cmd)

    def close(self) -> None:
        for ns in (self.a, self.b):
            sh("umount", ns, check=False)
            Path(ns).unlink(missing_ok=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if not shutil.which("iperf3"):
        raise SystemExit("iperf3 is missing (scripts/setup.sh installs it)")

    base = Path(tempfile.mkdtemp(prefix="berth-bench-net-"))
    paths = Paths(base / "root", base / "run")
    svc = NetworkService(paths)
    floor = None
    servers: list[Server] = []
    cids: list[str] = []
    try:
        floor = Floor(base)
        svc.create("bench", NetworkSpec(subnet="10.252.0.0/24"))
        a, b = secrets.token_hex(32), secrets.token_hex(32)
        cids += [a, b]
        na, nb = svc.create_netns(a), svc.create_netns(b)
        ip_a = svc.connect("bench", a, na, name="server")["IPAddress"]
        svc.connect("bench", b, nb, name="client")
        published = svc.publish(a, [{"container_port": PORT, "protocol": "tcp", "host_ip": "", "host_port": None}],
                                ip_a)[0]["host_port"]
        host = host_address()
        servers = [Server(floor.a), Server(na)]

        cases = {
            "floor (veth between two namespaces)": lambda: client(floor.b, "10.251.0.1", PORT, args.seconds),
            "berth bridge (namespace to namespace)": lambda: client(nb, ip_a, PORT, args.seconds),
            "published port, host -> host address": lambda: client(None, host, published, args.seconds),
            "published port, namespace -> host address (hairpin)":
                lambda: client(nb, host, published, args.seconds),
        }
        results: dict[str, list[float]] = {k: [] for k in cases}
        for rep in range(args.reps):
            for name, fn in cases.items():   # interleaved: each repetition runs every case
                results[name].append(fn())
            print(f"rep {rep + 1}/{args.reps}: " + ", ".join(f"{results[k][-1]:.2f}" for k in cases), flush=True)

        floor_gbps = median(results["floor (veth between two namespaces)"])
        print(f"\n{machine()}")
        print(f"iperf3, 1 TCP stream, {args.seconds:g} s per run, median of {args.reps} interleaved runs\n")
        print(f"{'path':<55} {'Gbit/s':>8} {'vs floor':>9}")
        for name in cases:
            m = median(results[name])
            print(f"{name:<55} {m:8.2f} {m / floor_gbps:8.2f}x")
    finally:
        for s in servers:
            s.stop()
        for cid in cids:
            svc.unpublish(cid)
            svc.delete_netns(cid)
        for data in svc.list({"type": ["custom"]}):
            svc.remove(data["Id"], force=True)
        svc.teardown()
        if floor is not None:
            floor.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
