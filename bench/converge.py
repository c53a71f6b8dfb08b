#!/usr/bin/env python3
"""Playbook convergence: 20 containers (busybox `sleep 3600`), first run and idempotent re-run.

Forms timed, each a whole `ansible-playbook` run against localhost:
- ping:       the same 20-item loop calling ansible.builtin.ping (the floor: Ansible's own cost
              per item);
- ping one:   a one-task ping playbook (the floor of the one-task form: Ansible's start-up);
- berth loop: a 20-item loop of berth.engine.container;
- berth one:  one berth.engine.containers task with the 20 containers;
- docker:     a 20-item loop of community.docker.docker_container against a private dockerd
              (when dockerd and community.docker can be had: an installed collection,
              --community-docker PATH, `ansible-galaxy collection install`, or the collection
              taken from the `ansible` package's wheel fetched with pip).
Every container uses network mode none (the same for berth and docker) so the figures measure
the engines and Ansible, not bridge setup. Idempotent re-runs are interleaved and repeated; the
medians and ratios are printed. Targets (issue 4): berth's loop within 1.2x the ping floor; the
one-task form under a tenth of community.docker's loop.

    .venv/bin/python bench/converge.py [--items 20] [--rounds 5] [--no-docker]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Dockerd, make_rootfs, release_berth_root, tar_of  # noqa: E402 - bench/run.py's helpers

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv/bin"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "berth-bench"


def loop_play(module: str, args: dict[str, object], items: int) -> str:
    task = {module: args, "loop": f"{{{{ range({items}) | list }}}}"}
    return json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}], indent=1)


def one_task_play(items: int) -> str:
    containers = [{"name": f"bench{i}"} for i in range(items)]
    task = {"berth.engine.containers": {
        "defaults": {"image": "bench-busybox:latest", "command": ["sleep", "3600"], "network_mode": "none"},
        "containers": containers}}
    return json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}], indent=1)


def find_community_docker(explicit: str | None) -> Path | None:
    """A collections path holding community.docker, or None."""
    candidates = [Path(explicit)] if explicit else []
    candidates += [CACHE / "collections", Path.home() / ".ansible/collections",
                   Path("/usr/share/ansible/collections")]
    for c in candidates:
        if (c / "ansible_collections/community/docker/MANIFEST.json").exists():
            return c
    if explicit:
        return None
    dest = CACHE / "collections"
    r = subprocess.run([str(VENV / "ansible-galaxy"), "collection", "install", "community.docker", "-p", str(dest)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode == 0 and (dest / "ansible_collections/community/docker").exists():
        return dest
    print("galaxy not reachable; taking community.docker from the ansible package's wheel (pip)", file=sys.stderr)
    wheels = CACHE / "wheels"
    r = subprocess.run([str(VENV / "pip"), "download", "ansible>=12,<13", "--no-deps", "-q", "-d", str(wheels)],
                       capture_output=True, text=True, timeout=900)
    found = sorted(wheels.glob("ansible-*.whl"))
    if r.returncode != 0 or not found:
        print(f"community.docker unavailable: {r.stderr[-300:]}", file=sys.stderr)
        return None
    import zipfile
    with zipfile.ZipFile(found[-1]) as z:
        z.extractall(dest, [n for n in z.namelist() if n.startswith("ansible_collections/community/docker/")])
    return dest


class Bench:
    def __init__(self, work: Path, collections: Path | None) -> None:
        self.work = work
        self.env = dict(os.environ, BERTH_ROOT=str(work / "berth-root"), BERTH_RUN=str(work / "berth-run"),
                        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        PATH=f"{VENV}:{os.environ.get('PATH', '')}")
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        paths = [str(REPO / ".collections")] + ([str(collections)] if collections else [])
        self.env["ANSIBLE_COLLECTIONS_PATH"] = ":".join(paths)

    def playbook(self, name: str, text: str) -> Path:
        p = self.work / f"{name}.yml"
        p.write_text(text)
        return p

    def run(self, playbook: Path, expect_changed: bool | None = None) -> float:
        t0 = time.perf_counter()
        r = subprocess.run([str(VENV / "ansible-playbook"), str(playbook)], env=self.env, capture_output=True,
                           text=True, cwd=REPO)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{playbook.name} failed:\n{r.stdout[-3000:]}{r.stderr[-1000:]}")
        if expect_changed is not None and ("changed=0" in r.stdout) == expect_changed:
            raise RuntimeError(f"{playbook.name}: expected changed={expect_changed}:\n{r.stdout[-2000:]}")
        return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved idempotent re-runs of each form")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--community-docker", help="a collections path that holds community.docker")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/converge.py runs as root", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="berth-bench-converge-"))
    dockerd = None
    n = args.items
    try:
        rootfs = make_rootfs(work / "rootfs")
        (rootfs / "bin/sleep").symlink_to("busybox")
        tar_path = work / "rootfs.tar"
        tar_path.write_bytes(tar_of(rootfs))
        collections = None if args.no_docker else find_community_docker(args.community_docker)
        b = Bench(work, collections)
        subprocess.run([str(VENV / "berth"), "import", str(tar_path), "bench-busybox:latest"], env=b.env, check=True,
                       stdout=subprocess.DEVNULL)
        common = {"image": "bench-busybox:latest", "command": ["sleep", "3600"], "network_mode": "none"}
        plays = {
            "ping": b.playbook("ping", loop_play("ansible.builtin.ping", {}, n)),
            "ping one": b.playbook("ping1", loop_play("ansible.builtin.ping", {}, 1)),
            "berth loop": b.playbook("loop", loop_play("berth.engine.container", {"name": "bench{{ item }}", **common}, n)),
            "berth one": b.playbook("one", one_task_play(n)),
        }
        cleanup = {"berth loop": b.playbook("loop-rm", loop_play("berth.engine.container",
                                                                 {"name": "bench{{ item }}", "state": "absent",
                                                                  "force_kill": True}, n))}
        if collections is not None and shutil.which("dockerd") and shutil.which("docker"):
            dockerd = Dockerd(work / "docker")
            dockerd.base.mkdir()
            host = dockerd.start()
            subprocess.run(["docker", "-H", host, "import", str(tar_path), "bench-busybox:latest"], check=True,
                           stdout=subprocess.DEVNULL)
            dargs = {"docker_host": host, "name": "bench{{ item }}", **common}
            plays["docker"] = b.playbook("docker", loop_play("community.docker.docker_container", dargs, n))
            cleanup["docker"] = b.playbook("docker-rm", loop_play("community.docker.docker_container", {
                "docker_host": host, "name": "bench{{ item }}", "state": "absent", "force_kill": True}, n))
        cleanup["berth one"] = cleanup["berth loop"]
        b.run(plays["ping"])  # warm: Ansible's caches, berth's bytecode cache and monitor server
        first: dict[str, float] = {}
        for name in plays:
            if name.startswith("ping"):
                continue
            first[name] = b.run(plays[name], expect_changed=True)
            b.run(plays[name], expect_changed=False)
            if name == "berth loop":  # the one-task form converges the same names: start it from scratch
                b.run(cleanup[name], expect_changed=True)
        times: dict[str, list[float]] = {k: [] for k in plays}
        for _ in range(args.rounds):
            for name, play in plays.items():
                times[name].append(b.run(play, expect_changed=None if name.startswith("ping") else False))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"converge {n} containers (busybox sleep 3600, network none), {args.rounds} interleaved rounds, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        print(f"{'form':<11} {'first run s':>11} {'re-run s':>9} {'min s':>7} {'vs ping':>8}")
        for k in plays:
            f = f"{first[k]:.2f}" if k in first else "-"
            print(f"{k:<11} {f:>11} {med[k]:>9.2f} {min(times[k]):>7.2f} {med[k] / med['ping']:>7.2f}x")
        ratio = med["berth loop"] / med["ping"]
        print(f"berth loop / ping = {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'not met'})")
        ref = med.get("docker")
        label = "docker loop measured now"
        if ref is None:
            ref, label = 10.0, "docker loop measured earlier (issue 4: 10.0 s)"
        ratio = med["berth one"] / ref
        print(f"berth one-task / {label} = {ratio:.3f} (target < 0.1: {'met' if ratio < 0.1 else 'not met'})")
        print(f"one-task ping playbook (Ansible's fixed cost) / {label} = {med['ping one'] / ref:.3f}; "
              f"berth one-task above it: {med['berth one'] - med['ping one']:.2f} s")
        for name in ("berth loop", "docker"):
            if name in cleanup:
                b.run(cleanup[name])
    finally:
        env = dict(os.environ, BERTH_ROOT=str(work / "berth-root"), BERTH_RUN=str(work / "berth-run"))
        release_berth_root(env["BERTH_ROOT"], env["BERTH_RUN"])
        if dockerd is not None:
            dockerd.stop()
            subprocess.run(["umount", "-R", "-l", str(work / "docker")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
