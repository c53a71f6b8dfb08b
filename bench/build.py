"""bench/build.py: `berth build` against `docker build` (classic builder, and BuildKit when the
buildx plugin is there) and `podman build`, cold and fully cached.

The Dockerfile is the issue's four instructions: FROM a busybox-static base (the same rootfs
imported into every engine), a RUN that makes 2,000 files, a COPY of a 20 MB file, a CMD.
"Cold" is `--no-cache` (every step runs; the base image is present), "cached" is a rebuild of an
unchanged context after a warm-up build. Runs are interleaved, one engine after another in each
round; medians are printed with ratios to berth.

    .venv/bin/python bench/build.py [--rounds 7] [--start-dockerd] [--docker-host unix://...]
                                    [--no-podman] [--tmpfs]

With --start-dockerd a private dockerd (its own socket and data root) runs for the bench and is
stopped at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PODMAN_CONF, docker_with_busybox, make_rootfs, release_berth_root, tar_of  # noqa: E402 - bench/run.py's helpers

DOCKERFILE = """FROM bench-busybox
RUN mkdir /files && cd /files && i=0 && while [ $i -lt 2000 ]; do echo $i > f$i; i=$((i+1)); done
COPY data.bin /data.bin
CMD ["sh"]
"""


def timed(argv: list[str], env: dict[str, str] | None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.decode()[-600:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--docker-host", help="a running dockerd to compare with (unix://...)")
    ap.add_argument("--start-dockerd", action="store_true", help="start a private dockerd for the run")
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--tmpfs", action="store_true", help="keep every engine's store on a tmpfs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/build.py runs as root", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="berth-bench-build-", dir="/var/tmp"))
    if args.tmpfs:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", str(work)], check=True)
    env = dict(os.environ, BERTH_ROOT=str(work / "berth-root"), BERTH_RUN=str(work / "berth-run"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    dockerd = None
    try:
        rootfs = make_rootfs(work / "rootfs")
        for applet in ("mkdir",):
            (rootfs / "bin" / applet).symlink_to("busybox")
        tar_path = work / "rootfs.tar"
        tar_path.write_bytes(tar_of(rootfs))
        ctx = work / "context"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "data.bin").write_bytes(os.urandom(20 << 20))

        berth = str(REPO / ".venv/bin/berth")
        subprocess.run([berth, "import", str(tar_path), "bench-busybox:latest"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        engines: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "berth": ([berth, "build", "-q", "-t", "bench-build"], env)}
        host, dockerd = docker_with_busybox(args.docker_host, args.start_dockerd, work, tar_path)
        if host:
            classic = dict(os.environ, DOCKER_BUILDKIT="0")
            engines["docker classic"] = (["docker", "-H", host, "build", "-q", "-t", "bench-build"], classic)
            kit = dict(os.environ, DOCKER_BUILDKIT="1")
            if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0:
                engines["docker buildkit"] = (["docker", "-H", host, "build", "-q", "-t", "bench-build"], kit)
            else:
                print("docker buildx is not installed: BuildKit is not measured")
        if not args.no_podman and shutil.which("podman"):
            conf = work / "containers.conf"
            conf.write_text(PODMAN_CONF)
            penv = dict(os.environ, CONTAINERS_CONF=str(conf))
            proot = ["--root", str(work / "podman-root"), "--runroot", str(work / "podman-run")]
            subprocess.run(["podman", *proot, "import", str(tar_path), "bench-busybox:latest"], env=penv,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            engines["podman"] = (["podman", *proot, "build", "-q", "--layers", "-t", "bench-build"], penv)

        cold: dict[str, list[float]] = {k: [] for k in engines}
        cached: dict[str, list[float]] = {k: [] for k in engines}
        for argv, e in engines.values():       # warm-up: bytecode, images, monitor server
            timed([*argv, str(ctx)], e)
        for _ in range(args.rounds):
            for name, (argv, e) in engines.items():
                subprocess.run(["sync"])
                cold[name].append(timed([*argv, "--no-cache", str(ctx)], e))
            for name, (argv, e) in engines.items():
                cached[name].append(timed([*argv, str(ctx)], e))
        print(f"build of the 4-instruction Dockerfile (RUN 2,000 files, COPY 20 MB), {args.rounds} interleaved "
              f"rounds, {os.cpu_count()} CPUs, store on {'tmpfs' if args.tmpfs else 'disk (/var/tmp)'}")
        print(f"{'engine':<16} {'cold median':>12} {'min':>7} {'max':>7} {'cached median':>14} {'min':>7} "
              f"{'max':>7}")
        mc = {k: statistics.median(v) for k, v in cold.items()}
        mh = {k: statistics.median(v) for k, v in cached.items()}
        for k in engines:
            print(f"{k:<16} {mc[k]:>11.3f}s {min(cold[k]):>6.3f}s {max(cold[k]):>6.3f}s {mh[k]:>13.3f}s "
                  f"{min(cached[k]):>6.3f}s {max(cached[k]):>6.3f}s")
        for k in engines:
            if k != "berth":
                print(f"berth / {k}: cold {mc['berth'] / mc[k]:.2f}x, cached {mh['berth'] / mh[k]:.2f}x")
    finally:
        release_berth_root(env["BERTH_ROOT"], env["BERTH_RUN"])
        if dockerd is not None:
            dockerd.stop()
        subprocess.run(["umount", "-R", "-l", str(work / "podman-root")], capture_output=True)
        if args.tmpfs:
            subprocess.run(["umount", "-l", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
