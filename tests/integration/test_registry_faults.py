"""A registry is not trusted: wrong content, cut connections and killed pulls leave a sound store."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import IntegrityError

from tests.fixtures.registry import FaultProxy, docker_config, push_image, registry  # noqa: F401 - fixtures

pytestmark = [pytest.mark.root, pytest.mark.peers]


def _big_layer(seed: int, size: int = 3 << 20) -> dict:
    # Incompressible, so the compressed blob is big enough to be cut in the middle.
    return {"data/blob.bin": random.Random(seed).randbytes(size)}


@pytest.fixture
def proxy_factory():
    made = []

    def make(upstream, **kw):
        p = FaultProxy(upstream, **kw).start()
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


def _store_state(engine):
    blobs = sorted(d for d, _ in engine.content.list())
    layers = sorted(m["chain_id"] for m in engine.snapshots.layers())
    images = [r.id for r in engine.images.list()]
    return blobs, layers, images


def test_blob_not_matching_its_digest_stores_nothing(registry, engine, proxy_factory, docker_config):  # noqa: F811
    img = push_image(registry, "bad/app", "1", [{"etc/ok": b"fine"}, _big_layer(1, 1 << 20)])
    bad = img.layer_digests[1]
    proxy = proxy_factory(registry.url, blob=bad, mode="corrupt")
    with pytest.raises(IntegrityError) as info:
        engine.registry.pull(f"{proxy.host}/bad/app:1")
    assert bad in str(info.value) or "digest" in str(info.value)
    blobs, layers, images = _store_state(engine)
    assert bad not in blobs
    assert images == []
    assert not any(engine.snapshots.has_layer(c) for c in layers if c == bad)
    # nothing half-written is kept for a resume either
    ingest = engine.paths.ingest
    assert not ingest.exists() or not any(p.is_file() and p.stat().st_size for p in ingest.rglob("*"))
    # the same registry without the fault: the pull completes
    assert engine.registry.pull(f"{registry.host}/bad/app:1").id == img.config_digest


def test_connection_cut_mid_layer_resumes_with_range(registry, engine, proxy_factory, docker_config):  # noqa: F811
    img = push_image(registry, "cut/app", "1", [_big_layer(2)])
    blob = img.layer_digests[0]
    cut_at = len(img.blobs[blob]) // 2
    proxy = proxy_factory(registry.url, blob=blob, mode="cut", cut_at=cut_at, cuts=1)
    seen = []
    rec = engine.registry.pull(f"{proxy.host}/cut/app:1", progress=seen.append)
    assert rec.id == img.config_digest
    assert proxy.ranges == [f"bytes={cut_at}-"]
    assert proxy.blob_gets == 2
    assert any(e.get("status", "").startswith("Retrying") for e in seen)
    assert engine.content.read(blob) == img.blobs[blob]


def test_kill_9_mid_layer_then_pull_again(registry, engine, proxy_factory, docker_config):  # noqa: F811
    img = push_image(registry, "kill/app", "1", [{"etc/a": b"a"}, _big_layer(3)])
    blob = img.layer_digests[1]
    cut_at = len(img.blobs[blob]) * 2 // 3
    proxy = proxy_factory(registry.url, blob=blob, mode="stall", cut_at=cut_at, cuts=1)
    ref = f"{proxy.host}/kill/app:1"
    cmd = [sys.executable, "-m", "ansible_collections.berth.engine.plugins.module_utils.cli.main", "pull", ref]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proxy.stalled.wait(60), "the pull never reached the layer"
        # let some of the big layer's bytes before the stall reach its ingest file (the small
        # layer's ingest is a few hundred bytes: it does not count)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _partial(engine, 65536):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proxy.release.set()
    assert proc.returncode == -signal.SIGKILL
    assert engine.images.list() == []
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"Digest: {img.manifest_digest}" in out.stdout
    rec = engine.images.get(ref)
    assert rec.id == img.config_digest
    inspect = subprocess.run(cmd[:-2] + ["image", "inspect", ref], capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    (info,) = json.loads(inspect.stdout)
    assert info["Id"] == img.config_digest
    assert f"{proxy.host}/kill/app@{img.manifest_digest}" in info["RepoDigests"]
    assert info["RootFS"]["Layers"] == json.loads(img.config)["rootfs"]["diff_ids"]
    # resumed where the killed pull's ingest stopped, not from the start
    assert len(proxy.ranges) == 1
    start = int(proxy.ranges[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= cut_at
    assert engine.content.read(blob) == img.blobs[blob]
    chain = engine.images.rootfs_chain(rec)
    assert (engine.snapshots.layer_dir(chain) / "data" / "blob.bin").read_bytes() == \
        _big_layer(3)["data/blob.bin"]


def _partial(engine, n):
    ingest = engine.paths.ingest
    return ingest.exists() and any(p.is_file() and p.stat().st_size >= n for p in ingest.rglob("data"))


def test_partial_ingests_left_by_a_dead_pull(registry, engine, proxy_factory, docker_config):  # noqa: F811
    img = push_image(registry, "left/app", "1", [{"etc/a": b"complete"}, _big_layer(4, 1 << 20)])
    whole, wrong = img.layer_digests
    # one blob fully downloaded but never committed, one whose partial bytes are garbage
    w = engine.content.ingest(whole, expected=whole, size=len(img.blobs[whole]))
    w.write(img.blobs[whole])
    w.close()
    w = engine.content.ingest(wrong, expected=wrong, size=len(img.blobs[wrong]))
    w.write(b"\0" * 1000)
    w.close()
    proxy = proxy_factory(registry.url, blob=whole, mode="corrupt")
    rec = engine.registry.pull(f"{proxy.host}/left/app:1")
    assert rec.id == img.config_digest
    assert proxy.blob_gets == 0                     # verified from the ingest, not fetched again
    assert engine.content.read(wrong) == img.blobs[wrong]
