#!/usr/bin/env python3
"""Per-container memory: what 50 idle `sleep` containers cost the host.

    sudo .venv/bin/python bench/memory.py [--count 50] [--rounds 3]

For berth: MemAvailable before and after starting N containers (each on its own overlay over
one busybox tree, started through the runtime: a monitor per container forked from the monitor
server), plus the PSS and USS (private pages) of every monitor and of the server, from
/proc/<pid>/smaps_rollup. Docker and Podman are measured the same way when their engines answer
(`docker info`, `podman info`), with a busybox image imported from the same tree; otherwise the
figures measured for issue 3 on this machine kind are printed for reference.
"""
from __future__ import annotations

import argparse
import json
import os
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

PEERS_MEASURED = {"docker": 4.6, "podman": 1.0}   # MB per container, issue 3, this machine kind


def mem_available_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables", "Percpu")


def kernel_kb() -> int:
    """Kernel memory that namespaces, mounts, cgroups and processes take (Slab and friends)."""
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in KERNEL_FIELDS:
                total += int(rest.split()[0])
    return total


def settle() -> int:
    """MemAvailable after the kernel has settled (median of a few samples)."""
    subprocess.run(["sync"], check=False)
    samples = []
    for _ in range(5):
        time.sleep(0.2)
        samples.append(mem_available_kb())
    return int(statistics.median(samples))


def smaps(pid: int) -> tuple[int, int]:
    """(PSS, USS) in kB."""
    pss = uss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Pss":
                    pss = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
    except OSError:
        pass
    return pss, uss


def berth_round(count: int, work: Path) -> dict:
    from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
    from ansible_collections.berth.engine.plugins.module_utils.runtime import cleanup
    from ansible_collections.berth.engine.plugins.module_utils.runtime.service import Runtime
    from ansible_collections.berth.engine.plugins.module_utils.runtime.state import StateStore

    from tests.conftest import busybox_rootfs, unmount_below
    from tests.fixtures.runtime import new_cid, oci_spec, overlay_rootfs, run_options, write_bundle

    base = Path(tempfile.mkdtemp(prefix="berth-mem-", dir=work))
    paths = Paths(base / "root", base / "run")
    lower = base / "lower"
    lower.mkdir()
    busybox_rootfs(lower)
    rt = Runtime(paths)
    cids = []
    for i in range(count):
        cid = new_cid()
        root = overlay_rootfs(base / f"c{i}", lower)
        write_bundle(paths, cid, oci_spec(root, ["sleep", "100000"], hostname=f"mem{i}"),
                     run_options(paths, cid))
        cids.append(cid)
    try:
        before = settle()
        kbefore = kernel_kb()
        t0 = time.monotonic()
        for cid in cids:
            rt.start(cid)
        started = time.monotonic() - t0
        after = settle()
        kafter = kernel_kb()
        store = StateStore(paths)
        mons = [smaps(store.read(c).monitor_pid) for c in cids]
        procs = [smaps(store.read(c).pid) for c in cids]
        server_pid = int((paths.run / "monitor.pid").read_text().split()[0])
        server = smaps(server_pid)
        return {
            "per_container_mb": (before - after) / count / 1024,
            # User-space cost alone, immune to page-cache noise: PSS of monitor and container
            # process, plus the server's share.
            "pss_mb": (sum(p for p, _ in mons) + sum(p for p, _ in procs) + server[0]) / count / 1024,
            "sleep_pss_kb": statistics.median(p for p, _ in procs),
            "kernel_mb": (kafter - kbefore) / count / 1024,
            "monitor_pss_kb": statistics.median(p for p, _ in mons),
            "monitor_uss_kb": statistics.median(u for _, u in mons),
            "server_pss_kb": server[0], "server_uss_kb": server[1],
            "start_ms_each": started / count * 1000,
        }
    finally:
        cleanup.stop_all(paths)
        unmount_below(base)
        shutil.rmtree(base, ignore_errors=True)


def engine_answers(cli: str) -> bool:
    if shutil.which(cli) is None:
        return False
    return subprocess.run([cli, "info"], capture_output=True, timeout=30).returncode == 0


def peer_round(cli: str, count: int, work: Path) -> float:
    """MB per container for docker or podman, with busybox imported from the same tree."""
    from tests.conftest import busybox_rootfs, tar_of

    image = f"berth-bench-busybox:{secrets.token_hex(3)}"
    tree = Path(tempfile.mkdtemp(prefix="peer-bb-", dir=work))
    env = None
    if cli == "podman":
        # podman needs runc and explicit ulimits on these machines (bench/run.py's conf)
        from bench.run import PODMAN_CONF
        conf = tree.parent / (tree.name + ".containers.conf")
        conf.write_text(PODMAN_CONF)
        env = dict(os.environ, CONTAINERS_CONF=str(conf))
    busybox_rootfs(tree)
    tarball = tree.parent / (tree.name + ".tar")
    tarball.write_bytes(tar_of(tree))
    subprocess.run([cli, "import", str(tarball), image], check=True, capture_output=True, env=env)
    names = [f"berth-mem-{secrets.token_hex(4)}" for _ in range(count)]
    try:
        before = settle()
        for n in names:
            subprocess.run([cli, "run", "-d", "--name", n, image, "sleep", "100000"], check=True,
                           capture_output=True, env=env)
        after = settle()
        return (before - after) / count / 1024
    finally:
        subprocess.run([cli, "rm", "-f", *names], capture_output=True, env=env)
        subprocess.run([cli, "rmi", image], capture_output=True, env=env)
        shutil.rmtree(tree, ignore_errors=True)
        tarball.unlink(missing_ok=True)
        if env is not None:
            Path(env["CONTAINERS_CONF"]).unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default="/var/tmp")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/memory.py needs root", file=sys.stderr)
        return 1
    work = Path(args.work)
    peers = [p for p in ("docker", "podman") if engine_answers(p)]
    results: dict[str, list] = {"berth": [], **{p: [] for p in peers}}
    for _ in range(args.rounds):  # interleaved, so drift hits every engine alike
        results["berth"].append(berth_round(args.count, work))
        for p in peers:
            results[p].append(peer_round(p, args.count, work))
    b = results["berth"]
    summary = {
        "count": args.count, "rounds": args.rounds,
        "berth_mb_per_container": statistics.median(r["per_container_mb"] for r in b),
        "berth_rounds_mb": [round(r["per_container_mb"], 2) for r in b],
        "berth_pss_mb_per_container": statistics.median(r["pss_mb"] for r in b),
        "berth_sleep_pss_kb": statistics.median(r["sleep_pss_kb"] for r in b),
        "berth_kernel_mb_per_container": statistics.median(r["kernel_mb"] for r in b),
        "berth_pss_plus_kernel_mb": statistics.median(r["pss_mb"] + r["kernel_mb"] for r in b),
        "berth_monitor_pss_kb": statistics.median(r["monitor_pss_kb"] for r in b),
        "berth_monitor_uss_kb": statistics.median(r["monitor_uss_kb"] for r in b),
        "berth_server_pss_kb": statistics.median(r["server_pss_kb"] for r in b),
        "berth_server_uss_kb": statistics.median(r["server_uss_kb"] for r in b),
        "berth_start_ms_each": statistics.median(r["start_ms_each"] for r in b),
        "peers_measured_now": {p: statistics.median(results[p]) for p in peers},
        "peers_reference": PEERS_MEASURED,
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{args.count} idle sleep containers, median of {args.rounds} rounds (MemAvailable delta)")
    print(f"  berth   {summary['berth_mb_per_container']:.2f} MB/container (rounds {summary['berth_rounds_mb']}); "
          f"user space alone (PSS of monitor + container process + server share) "
          f"{summary['berth_pss_mb_per_container']:.2f} MB")
    print(f"          user space + kernel (Slab, KernelStack, PageTables, Percpu deltas) "
          f"{summary['berth_pss_plus_kernel_mb']:.2f} MB "
          f"(kernel {summary['berth_kernel_mb_per_container']:.2f} MB)")
    print(f"          "
          f"(monitor PSS {summary['berth_monitor_pss_kb']:.0f} kB, USS {summary['berth_monitor_uss_kb']:.0f} kB; "
          f"server PSS {summary['berth_server_pss_kb']:.0f} kB, USS {summary['berth_server_uss_kb']:.0f} kB; "
          f"start {summary['berth_start_ms_each']:.1f} ms each)")
    for p in ("docker", "podman"):
        if p in summary["peers_measured_now"]:
            v = summary["peers_measured_now"][p]
            print(f"  {p:<7} {v:.2f} MB/container (measured now)  ratio berth/{p} "
                  f"{summary['berth_mb_per_container'] / v:.2f}")
        else:
            v = PEERS_MEASURED[p]
            print(f"  {p:<7} {v:.2f} MB/container (issue 3 figure; engine not running here)  "
                  f"ratio berth/{p} {summary['berth_mb_per_container'] / v:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
