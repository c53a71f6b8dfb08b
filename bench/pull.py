#!/usr/bin/env python3
"""Pull benchmark: berth pull against the floor, skopeo and (when an engine answers) docker.

A synthetic 5-layer gzip image (~170 MB compressed, ~300 MB unpacked, a realistic mix of many
small text files, binaries, and a few large files) is pushed to Debian's reference registry on
127.0.0.1. Each contender then fetches it into an empty destination:

- berth:  ``berth --root R pull 127.0.0.1:PORT/bench/pull:1`` (a fresh root each run)
- floor:  every layer at once, ``curl BLOB | gzip -dc | tar -x`` into its own folder (placed
  on disk as berth places its layers: a +T parent, a fresh name)
- skopeo: ``skopeo copy docker://... oci:DIR`` (no unpack: it only stores blobs)
- docker: ``docker pull`` when ``docker info`` answers (then ``docker rmi``); with
  ``--start-dockerd``, a private dockerd per medium whose data root is on that medium

Runs are interleaved and repeated (the order rotates each round, and every run starts after a
``sync``; the ``sync`` after it is timed apart, to show what each left for writeback), on the
root disk and on a tmpfs; medians and ratios printed.

    .venv/bin/python bench/pull.py [--reps 5] [--media disk,tmpfs] [--start-dockerd]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from ansible_collections.berth.engine.plugins.module_utils.store.snapshots import spread_subdirs  # noqa: E402

from bench.run import Dockerd  # noqa: E402
from tests.fixtures.registry import RegistryServer  # noqa: E402

CACHE = Path("/var/tmp/berth-bench-pull")
REPO = "bench/pull"
TAG = "1"
BERTH = str(HERE / ".venv" / "bin" / "berth")


# --- the image ------------------------------------------------------------------------------

def _text(rng: random.Random, n: int) -> bytes:
    words = [b"lorem", b"ipsum", b"config", b"value", b"return", b"import", b"class", b"def",
             b"struct", b"int", b"char", b"void", b"self", b"static", b"const", b"package"]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])


def _binary(rng: random.Random, n: int) -> bytes:
    # Half random, half repetitive: compresses about like real executables (~2:1).
    half = n // 2
    return rng.randbytes(half) + (b"\x00\x01\x02\x03ELF" * (n // 7 + 1))[: n - half]


def _layer(seed: int, spec: list[tuple[str, int, int]]) -> bytes:
    """A tar of (kind, count, size) groups, gzipped."""
    rng = random.Random(seed)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        made: set[str] = set()
        for gi, (kind, count, size) in enumerate(spec):
            for i in range(count):
                d = f"l{seed}/{kind}{gi}/d{i // 100}"
                parts = d.split("/")
                for k in range(1, len(parts) + 1):
                    p = "/".join(parts[:k])
                    if p not in made:
                        made.add(p)
                        ti = tarfile.TarInfo(p)
                        ti.type = tarfile.DIRTYPE
                        ti.mode = 0o755
                        tf.addfile(ti)
                data = _text(rng, size) if kind == "text" else _binary(rng, size) if kind == "bin" \
                    else rng.randbytes(size)
                ti = tarfile.TarInfo(f"{d}/f{i}")
                ti.size = len(data)
                ti.mode = 0o644 if kind == "text" else 0o755
                tf.addfile(ti, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


LAYERS = [
    [("text", 3000, 4000), ("bin", 200, 150_000)],                     # a base system
    [("bin", 60, 1_000_000), ("text", 2000, 2000)],                     # libraries
    [("rand", 3, 25_000_000), ("text", 500, 8000)],                     # a runtime with big blobs
    [("text", 6000, 1500), ("bin", 100, 300_000)],                      # application sources
    [("rand", 2, 20_000_000), ("bin", 20, 2_000_000)],                  # data and assets
]


def build_image() -> dict:
    """Make (or reuse) the layers, the config and the manifest under CACHE."""
    meta = CACHE / "image.json"
    if meta.exists():
        return json.loads(meta.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    layers, diff_ids = [], []
    for i, spec in enumerate(LAYERS):
        blob = _layer(i + 1, spec)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        (CACHE / digest[7:]).write_bytes(blob)
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                       "size": len(blob)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-11-23T00:00:00Z",
                         "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    cdigest = "sha256:" + hashlib.sha256(config).hexdigest()
    (CACHE / cdigest[7:]).write_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdigest, "size": len(config)},
                           "layers": layers}).encode()
    info = {"layers": layers, "config": cdigest, "manifest": manifest.decode()}
    meta.write_text(json.dumps(info))
    return info


def push_image(reg: RegistryServer, info: dict) -> None:
    import requests

    s = requests.Session()
    for d in [x["digest"] for x in info["layers"]] + [info["config"]]:
        reg.put_blob(REPO, (CACHE / d[7:]).read_bytes(), session=s)
    reg.put_manifest(REPO, TAG, info["manifest"].encode(), "application/vnd.oci.image.manifest.v1+json", session=s)


# --- contenders -----------------------------------------------------------------------------

def run_berth(reg: RegistryServer, base: Path, info: dict) -> None:
    root = base / "berth-root"
    env = dict(os.environ, BERTH_ROOT=str(root), BERTH_RUN=str(base / "berth-run"))
    subprocess.run([BERTH, "pull", f"{reg.host}/{REPO}:{TAG}"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def run_floor(reg: RegistryServer, base: Path, info: dict) -> None:
    # The same inode placement berth's snapshotter asks for (store/snapshots.spread_subdirs): a
    # parent marked +T for ext4's Orlov allocator and a fresh name per layer folder. Without it
    # the floor's files land in the block groups the previous rounds freed, which a journal-less
    # ext4 scans inode by inode (see docs/benchmarks.md "Pull"), and it would stop being a floor.
    top = base / "floor"
    top.mkdir()
    spread_subdirs(top)

    def one(i_layer: tuple[int, dict]) -> None:
        i, layer = i_layer
        dest = top / f"{i}-{secrets.token_hex(4)}"
        dest.mkdir()
        cmd = (f"curl -sf {reg.url}/v2/{REPO}/blobs/{layer['digest']} | gzip -dc | "
               f"tar -x --no-same-owner -C {dest}")
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)

    with ThreadPoolExecutor(len(info["layers"])) as pool:
        list(pool.map(one, enumerate(info["layers"])))


def run_skopeo(reg: RegistryServer, base: Path, info: dict) -> None:
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{reg.host}/{REPO}:{TAG}",
                    f"oci:{base / 'skopeo'}:{TAG}"], check=True, stdout=subprocess.DEVNULL)


DOCKER_HOST: dict[str, str] = {}      # medium -> the private dockerd's socket (--start-dockerd)


def _docker(medium: str) -> list[str]:
    return ["docker", "-H", DOCKER_HOST[medium]] if medium in DOCKER_HOST else ["docker"]


def run_docker(reg: RegistryServer, base: Path, info: dict) -> None:
    subprocess.run([*_docker(base.parent.name), "pull", "-q", f"{reg.host}/{REPO}:{TAG}"], check=True,
                   stdout=subprocess.DEVNULL)


def clean_docker(reg: RegistryServer, medium: str) -> None:
    subprocess.run([*_docker(medium), "rmi", "-f", f"{reg.host}/{REPO}:{TAG}"], capture_output=True, check=False)


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0


def wipe(path: Path) -> None:
    subprocess.run(["rm", "-rf", str(path)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--media", default="disk,tmpfs")
    ap.add_argument("--start-dockerd", action="store_true",
                    help="start a private dockerd per medium (data root on it) for the comparison")
    args = ap.parse_args()

    t0 = time.monotonic()
    info = build_image()
    comp = sum(x["size"] for x in info["layers"])
    print(f"image: {len(info['layers'])} layers, {comp / 1e6:.0f} MB compressed "
          f"(built/reused in {time.monotonic() - t0:.1f}s)")
    work = Path(tempfile.mkdtemp(prefix="berth-bench-pull-", dir="/var/tmp"))
    reg = RegistryServer(work / "registry").start()
    tmpfs = work / "tmpfs"
    mounted = False
    daemons = []
    try:
        push_image(reg, info)
        contenders = {"berth": run_berth, "floor": run_floor, "skopeo": run_skopeo}
        media = {}
        if "disk" in args.media:
            media["disk"] = work / "disk"
        if "tmpfs" in args.media:
            tmpfs.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6g", "tmpfs", str(tmpfs)], check=True)
            mounted = True
            media["tmpfs"] = tmpfs
        if args.start_dockerd and shutil.which("dockerd"):
            for medium, base in media.items():
                # no networking of its own (a pull needs none), so two can run side by side
                d = Dockerd(Path(tempfile.mkdtemp(prefix="dockerd-", dir=base.parent if medium == "disk" else base)),
                            ("--bridge", "none", "--iptables=false", "--ip6tables=false"))
                daemons.append(d)
                DOCKER_HOST[medium] = d.start()
            contenders["docker"] = run_docker
        elif docker_available():
            contenders["docker"] = run_docker
        times: dict[tuple[str, str], list[float]] = {}
        synced: dict[tuple[str, str], list[float]] = {}
        names = list(contenders)
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]   # rotate to interleave fairly
            for medium, base in media.items():
                for name in order:
                    dest = base / f"{name}-{rep}"
                    dest.mkdir(parents=True)
                    if name == "docker":
                        clean_docker(reg, medium)
                    # Start each run with no dirty pages from the last one: writeback of a
                    # previous run's files would otherwise be billed to whoever runs next.
                    os.sync()
                    start = time.perf_counter()
                    contenders[name](reg, dest, info)
                    times.setdefault((medium, name), []).append(time.perf_counter() - start)
                    # Not in the figure (a pull does not promise durability, Docker's no more than
                    # berth's), but shown: what each run left for writeback to do.
                    start = time.perf_counter()
                    os.sync()
                    synced.setdefault((medium, name), []).append(time.perf_counter() - start)
                    wipe(dest)
                    if name == "docker":
                        clean_docker(reg, medium)
        print(f"\nmachine: {platform.node()} {os.cpu_count()} CPUs, {platform.platform()}")
        print(f"{'medium':<7} {'contender':<8} {'median s':>9} {'min s':>7} {'max s':>7} "
              f"{'sync after s':>13}  vs berth")
        for medium in media:
            b = statistics.median(times[(medium, "berth")])
            for name in names:
                ts = times[(medium, name)]
                med = statistics.median(ts)
                print(f"{medium:<7} {name:<8} {med:>9.2f} {min(ts):>7.2f} {max(ts):>7.2f} "
                      f"{statistics.median(synced[(medium, name)]):>13.2f}  berth/{name} = {b / med:.2f}")
        if "docker" not in contenders:
            print("docker: no engine answers `docker info`; not measured")
    finally:
        for d in daemons:
            d.stop()
        reg.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(tmpfs)], check=False)
        wipe(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
