#!/usr/bin/env python3
"""Image load and unpack: `berth load` of a ~200 MB multi-layer image vs the floor, `tar -x`.

The image is synthetic but shaped like real ones: six layers (five gzip, one zstd) with a mix of
many small text-like files, medium files, a few large partly compressible binaries, folders,
symlinks and hard links. The floor decompresses and unpacks the same layer blobs with
`gzip -dc | tar -x` (`zstd -dc` for the zstd layer) into fresh folders, one layer after another.
berth runs `berth load -i image.tar` into a fresh store: it reads the archive, stores every
blob (verified), unpacks every layer safely and records the image. Runs are interleaved and
repeated; medians are printed with their ratio, on the root disk and on a tmpfs.

    .venv/bin/python bench/unpack.py [--repeat 5] [--size-mb 200] [--keep]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = ("container layer image overlay kernel namespace process volume network bridge registry manifest "
         "digest config python module engine berth docker podman ansible playbook task handler").split()


def _text(rng: random.Random, n: int) -> bytes:
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def _binary(rng: random.Random, n: int) -> bytes:
    # half random, half repetitive: compresses about 2x, like shared libraries do
    half = n // 2
    return os.urandom(half) + (bytes(rng.randrange(256) for _ in range(64)) * (n // 64 + 1))[: n - half]


def make_layer(rng: random.Random, index: int, budget: int) -> bytes:
    buf = io.BytesIO()
    used = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name: str) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tf.addfile(ti)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))

        top = f"layer{index}"
        add_dir(top)
        d = 0
        while used < budget:
            folder = f"{top}/d{d:03d}"
            add_dir(folder)
            for f in range(rng.randint(20, 60)):
                # about 7,000 files in 200 MB (29 kB on average), as in distribution images
                kind = rng.random()
                if kind < 0.90:
                    data = _text(rng, rng.randint(100, 8_000))           # sources, configs, docs
                elif kind < 0.995:
                    data = _binary(rng, rng.randint(10_000, 110_000))     # small libraries, images
                else:
                    data = _binary(rng, rng.randint(1_000_000, 7_000_000))  # big shared objects
                add_file(f"{folder}/f{f:03d}", data, 0o755 if kind >= 0.90 else 0o644)
                used += len(data)
                if used >= budget:
                    break
            ti = tarfile.TarInfo(f"{folder}/link")
            ti.type, ti.linkname = tarfile.SYMTYPE, "f000"
            tf.addfile(ti)
            ti = tarfile.TarInfo(f"{folder}/hard")
            ti.type, ti.linkname = tarfile.LNKTYPE, f"{folder}/f000"
            tf.addfile(ti)
            d += 1
    return buf.getvalue()


def build_image(workdir: Path, size_mb: int) -> tuple[Path, list[tuple[Path, str]], int]:
    """An archive in docker save's format plus the layer blobs alone (for the floor)."""
    import zstandard
    rng = random.Random(42)
    n_layers = 6
    budget = size_mb * 1_000_000 // n_layers
    blobs_dir = workdir / "layers"
    blobs_dir.mkdir(parents=True)
    layers, diff_ids, total = [], [], 0
    for i in range(n_layers):
        raw = make_layer(rng, i, budget)
        total += len(raw)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        if i == n_layers - 1:
            blob, kind = zstandard.ZstdCompressor(level=3).compress(raw), "zstd"
        else:
            blob, kind = gzip.compress(raw, compresslevel=6), "gzip"
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        path = blobs_dir / digest[7:]
        path.write_bytes(blob)
        layers.append((path, kind, digest, len(blob)))
    config = json.dumps({"created": "2026-11-23T00:00:00Z", "architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    archive = workdir / "image.tar"
    with tarfile.open(archive, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for path, _kind, digest, _size in layers:
            tf.add(path, arcname=f"blobs/sha256/{digest[7:]}")
        add(f"blobs/sha256/{config_digest[7:]}", config)
        add("manifest.json", json.dumps([{"Config": f"blobs/sha256/{config_digest[7:]}",
                                          "RepoTags": ["bench/unpack:latest"],
                                          "Layers": [f"blobs/sha256/{d[7:]}" for _p, _k, d, _s in layers]}]).encode())
    return archive, [(p, k) for p, k, _d, _s in layers], total


def run_floor(layers: list[tuple[Path, str]], dest: Path) -> float:
    t0 = time.perf_counter()
    for i, (path, kind) in enumerate(layers):
        target = dest / f"l{i}"
        target.mkdir(parents=True)
        tool = "zstd" if kind == "zstd" else "gzip"
        subprocess.run(f"{tool} -dc {path} | tar -x -C {target}", shell=True, check=True)
    return time.perf_counter() - t0


def run_berth(archive: Path, dest: Path) -> float:
    env = dict(os.environ, BERTH_ROOT=str(dest / "root"), BERTH_RUN=str(dest / "run"))
    berth = [sys.executable, "-c", "import sys; from ansible_collections.berth.engine.plugins.module_utils."
             "cli.main import main; sys.exit(main())"]
    t0 = time.perf_counter()
    subprocess.run(berth + ["load", "-q", "-i", str(archive)], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def clean(path: Path) -> None:
    subprocess.run(["rm", "-rf", str(path)], check=True)
    subprocess.run(["sync"], check=True)


def measure(where: str, base: Path, archive: Path, layers: list[tuple[Path, str]], repeat: int) -> dict:
    floor, berth = [], []
    for i in range(repeat):
        order = [("floor", run_floor, layers), ("berth", run_berth, archive)]
        if i % 2:
            order.reverse()
        for name, fn, arg in order:
            dest = base / f"{name}-{i}"
            dest.mkdir(parents=True)
            t = fn(arg, dest)
            (floor if name == "floor" else berth).append(t)
            clean(dest)
        print(f"  [{where}] run {i + 1}: floor {floor[-1]:.2f}s  berth {berth[-1]:.2f}s", flush=True)
    f, b = statistics.median(floor), statistics.median(berth)
    return {"where": where, "floor": f, "berth": b, "ratio": b / f, "floor_all": floor, "berth_all": berth}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the generated image in /var/tmp/berth-bench-unpack")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/unpack.py runs as root (it mounts a tmpfs)", file=sys.stderr)
        return 1
    work = Path("/var/tmp/berth-bench-unpack")
    if not (work / "image.tar").exists() or not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"building a {args.size_mb} MB image ...", flush=True)
        archive, layers, total = build_image(work, args.size_mb)
        (work / "meta.json").write_text(json.dumps({"layers": [[str(p), k] for p, k in layers], "total": total}))
    else:
        meta = json.loads((work / "meta.json").read_text())
        archive, layers, total = work / "image.tar", [(Path(p), k) for p, k in meta["layers"]], meta["total"]
    compressed = sum(p.stat().st_size for p, _ in layers)
    print(f"image: {len(layers)} layers, {total / 1e6:.0f} MB uncompressed, {compressed / 1e6:.0f} MB compressed")
    results = []
    disk = Path(tempfile.mkdtemp(prefix="berth-bench-disk-", dir="/var/tmp"))
    try:
        results.append(measure("disk", disk, archive, layers, args.repeat))
    finally:
        shutil.rmtree(disk, ignore_errors=True)
    tmpfs = Path(tempfile.mkdtemp(prefix="berth-bench-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", str(tmpfs)], check=True)
    try:
        # the archive is read from the tmpfs too, so neither side waits on the disk
        shutil.copy(archive, tmpfs / "image.tar")
        tlayers = []
        (tmpfs / "layers").mkdir()
        for p, k in layers:
            shutil.copy(p, tmpfs / "layers" / p.name)
            tlayers.append((tmpfs / "layers" / p.name, k))
        results.append(measure("tmpfs", tmpfs / "runs", tmpfs / "image.tar", tlayers, args.repeat))
    finally:
        subprocess.run(["umount", str(tmpfs)], check=False)
        os.rmdir(tmpfs)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'where':<7} {'tar -x (floor)':>15} {'berth load':>11} {'ratio':>6}")
    for r in results:
        print(f"{r['where']:<7} {r['floor']:>14.2f}s {r['berth']:>10.2f}s {r['ratio']:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
