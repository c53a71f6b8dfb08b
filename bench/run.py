#!/usr/bin/env python3
"""`berth run --rm IMAGE true` against `docker run --rm`, `podman run --rm` and the floor.

The floor is `unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true`: new
namespaces and an exec, with no image, no overlay, no cgroup, no network and no bookkeeping.
Every engine runs the same busybox-static rootfs, imported as a one-layer image. Runs are
interleaved (one of each per round) and repeated; the medians are printed with their ratios.

Peers are measured when their engine answers: Docker through --docker-host (a dockerd that
`--start-dockerd` starts on a private socket and data root, and stops at the end), podman when
the command exists (with --podman-conf, a containers.conf choosing runc and default ulimits,
which podman needs on these machines).

    .venv/bin/python bench/run.py [--rounds 20] [--start-dockerd] [--network bridge|none]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = "/bin/busybox"
PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def make_rootfs(dest: Path) -> Path:
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    for applet in ("sh", "true", "echo"):
        (dest / "bin" / applet).symlink_to("busybox")
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc/group").write_text("root:x:0:\n")
    return dest


def tar_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for entry in sorted(folder.rglob("*")):
            tf.add(entry, arcname=str(entry.relative_to(folder)), recursive=False)
    return buf.getvalue()


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.decode()[-400:]}")
    return dt


def release_berth_root(root: str, run: str) -> None:
    """Stop the monitor server of a bench's berth root and release what it made (bridges,
    namespaces, cgroups, mounts)."""
    subprocess.run([str(REPO / ".venv/bin/python"), "-c",
                    "import sys; from ansible_collections.berth.engine.plugins.module_utils.paths import Paths;"
                    "from ansible_collections.berth.engine.plugins.module_utils.runtime.cleanup import stop_all;"
                    "from ansible_collections.berth.engine.plugins.module_utils.network.cleanup import release_all;"
                    "p = Paths.from_env(sys.argv[1], sys.argv[2]); stop_all(p); release_all(p)",
                    root, run], capture_output=True)
    # Containers stopped that way keep their rootfs mounted (their monitor's exit command
    # unmounts it): unmount everything below the root, as the tests' teardown does.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.conftest import unmount_below

    unmount_below(root)


def docker_with_busybox(docker_host: str | None, start: bool, work: Path,
                        tar_path: Path) -> tuple[str | None, Dockerd | None]:
    """The Docker engine to compare with (``--docker-host``, or a private dockerd under ``work``
    with ``--start-dockerd``) with the bench's busybox imported; (None, None) when there is none."""
    dockerd = None
    host = docker_host
    if start and shutil.which("dockerd"):
        dockerd = Dockerd(work / "docker")
        dockerd.base.mkdir()
    try:
        if start and dockerd is not None:
            host = dockerd.start()
        if not host or not shutil.which("docker"):
            return None, dockerd
        subprocess.run(["docker", "-H", host, "import", str(tar_path), "bench-busybox:latest"], check=True,
                       stdout=subprocess.DEVNULL)
    except BaseException:
        if dockerd is not None:
            dockerd.stop()
        raise
    return host, dockerd


class Dockerd:
    """A private dockerd for the comparison: its own socket, data root and exec root. What it
    adds to the host's links and iptables rules (docker0, its chains) is removed by stop()."""

    def __init__(self, base: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.host_net: HostNetSnapshot | None = None

    def start(self) -> str:
        self.host_net = HostNetSnapshot()
        log = open(self.base / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "-H", f"unix://{self.sock}", "--data-root", str(self.base / "data"),
             "--exec-root", str(self.base / "exec"), "--pidfile", str(self.base / "dockerd.pid"),
             *self.extra_args],
            stdout=log, stderr=log)
        host = f"unix://{self.sock}"
        for _ in range(300):
            if subprocess.run(["docker", "-H", host, "version"], capture_output=True).returncode == 0:
                return host
            time.sleep(0.1)
        raise RuntimeError(f"dockerd did not start; see {self.base / 'dockerd.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
            if self.proc.poll() is None:
                self.proc.kill()
        if self.host_net is not None:
            for what in self.host_net.restore():
                print(f"removed dockerd's {what}", file=sys.stderr)
            self.host_net = None


PEER_MARKS = ("docker", "DOCKER", "NETAVARK", "podman", "CNI-")   # what the peers' networking adds


class HostNetSnapshot:
    """The links and iptables rules that docker and podman add for their bridges: whatever of
    theirs was not there before the bench is removed after it (nothing else is touched)."""

    TABLES = ("nat", "filter")

    def __init__(self) -> None:
        self.links = self._links()
        self.rules = self._rules()

    @staticmethod
    def _links() -> set[str]:
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}

    def _rules(self) -> set[tuple[str, str]]:
        rules = set()
        for table in self.TABLES:
            r = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True)
            rules |= {(table, line) for line in r.stdout.splitlines() if any(m in line for m in PEER_MARKS)}
        return rules

    def restore(self) -> list[str]:
        """Remove the peers' new rules, chains and links; what was removed."""
        removed = []
        new = sorted(self._rules() - self.rules)
        for table, line in new:
            if line.startswith("-A "):
                subprocess.run(["iptables", "-w", "-t", table, "-D", *line.split()[1:]], capture_output=True)
                removed.append(f"{table}: {line}")
        for table, line in new:
            if line.startswith("-N "):
                chain = line.split()[1]
                subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True)
                subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True)
                removed.append(f"{table}: {line}")
        for link in sorted(self._links() - self.links):
            if any(m.lower() in link.lower() for m in PEER_MARKS):
                subprocess.run(["ip", "link", "del", link], capture_output=True)
                removed.append(f"link {link}")
        return removed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--network", default="bridge", choices=("bridge", "none"),
                    help="network mode for every engine (docker's default is bridge)")
    ap.add_argument("--docker-host", help="a running dockerd to compare with (unix://...)")
    ap.add_argument("--start-dockerd", action="store_true", help="start a private dockerd for the run")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/run.py runs as root", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="berth-bench-run-"))
    dockerd = None
    host_net = HostNetSnapshot()
    env = dict(os.environ, BERTH_ROOT=str(work / "berth-root"), BERTH_RUN=str(work / "berth-run"))
    # A normal install caches bytecode; some shells here disable it, which would time the
    # compiler instead of berth.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        rootfs = make_rootfs(work / "rootfs")
        tar_path = work / "rootfs.tar"
        tar_path.write_bytes(tar_of(rootfs))
        berth = str(REPO / ".venv/bin/berth")
        subprocess.run([berth, "import", str(tar_path), "bench-busybox:latest"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        net = ["--network", args.network]
        cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "berth": ([berth, "run", "--rm", *net, "bench-busybox", "true"], env),
            "floor": (["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot", str(rootfs),
                       "/bin/true"], None),
        }
        host, dockerd = docker_with_busybox(args.docker_host, args.start_dockerd, work, tar_path)
        if host:
            cmds["docker"] = (["docker", "-H", host, "run", "--rm", *net, "bench-busybox", "true"], None)
        if not args.no_podman and shutil.which("podman"):
            conf = work / "containers.conf"
            conf.write_text(PODMAN_CONF)
            penv = dict(os.environ, CONTAINERS_CONF=str(conf))
            proot = ["--root", str(work / "podman-root"), "--runroot", str(work / "podman-run")]
            subprocess.run(["podman", *proot, "import", str(tar_path), "bench-busybox:latest"], env=penv,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cmds["podman"] = (["podman", *proot, "run", "--rm", *net, "bench-busybox", "true"], penv)
        for argv, e in cmds.values():  # warm caches (bytecode, images, the monitor server)
            timed(argv, e)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.rounds):
            for name, (argv, e) in cmds.items():
                times[name].append(timed(argv, e))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"run --rm IMAGE true, network {args.network}, {args.rounds} interleaved rounds, "
              f"{os.cpu_count()} CPUs")
        print(f"{'engine':<8} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'vs berth':>9}")
        for k in cmds:
            print(f"{k:<8} {med[k] * 1000:>10.1f} {min(times[k]) * 1000:>8.1f} {max(times[k]) * 1000:>8.1f} "
                  f"{med[k] / med['berth']:>8.2f}x")
        if "docker" in med:
            ratio = med["berth"] / med["docker"]
            print(f"berth / docker = {ratio:.2f} (target <= 0.50: {'met' if ratio <= 0.5 else 'not met'})")
        print(f"berth / floor = {med['berth'] / med['floor']:.1f}")
    finally:
        # berth's monitor server and anything its root made (bridges, namespaces, cgroups).
        release_berth_root(env["BERTH_ROOT"], env["BERTH_RUN"])
        if dockerd is not None:
            dockerd.stop()
        subprocess.run(["umount", "-R", "-l", str(work / "podman-root")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        for what in host_net.restore():
            print(f"removed the peers' {what}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
