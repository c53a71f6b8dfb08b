"""Snapshots on the real kernel: overlay stacks of unpacked layers, whiteouts, commit, diff."""
from __future__ import annotations

import io
import os
import stat

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    Conflict,
    IntegrityError,
    UnsafeContent,
)
from ansible_collections.berth.engine.plugins.module_utils.store.snapshots import _mounted

from tests.fixtures.images import TarBuilder, make_image

pytestmark = pytest.mark.root


def _three_layers() -> list[bytes]:
    base = (TarBuilder().dir("etc").file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .file("etc/gone", b"to be deleted").dir("data").file("data/old1", b"1").file("data/old2", b"2")
            .dir("keep").file("keep/k", b"k").bytes())
    middle = TarBuilder().dir("etc").file("etc/added", b"added in 2").dir("data").file("data/mid", b"m").bytes()
    top = (TarBuilder().dir("etc").file("etc/.wh.gone").dir("data").file("data/.wh..wh..opq")
           .file("data/fresh", b"f").bytes())
    return [base, middle, top]


@pytest.fixture
def snap_key():
    return f"test-{os.getpid()}-{os.urandom(3).hex()}"


def test_three_layer_image_with_whiteout_and_opaque_dir(engine, snap_key):
    rec = make_image(engine, _three_layers(), ["three:1"], gzip_layers=True)
    chain = engine.images.rootfs_chain(rec)
    assert len(engine.snapshots.lower_chain(chain)) == 3
    mounts = engine.snapshots.prepare(snap_key, chain)
    assert mounts[0].type == "overlay" and any(o.startswith("lowerdir=") for o in mounts[0].options)
    merged = engine.snapshots.mount(snap_key)
    try:
        assert engine.snapshots.mount(snap_key) == merged   # idempotent
        assert not (merged / "etc/gone").exists()
        assert (merged / "etc/passwd").exists() and (merged / "etc/added").read_bytes() == b"added in 2"
        assert sorted(os.listdir(merged / "data")) == ["fresh"]       # opaque hides lower content
        assert (merged / "keep/k").read_bytes() == b"k"
        (merged / "etc/new").write_bytes(b"new")
        os.unlink(merged / "etc/passwd")
        changes = engine.snapshots.changes(snap_key)
        assert ("A", "/etc/new") in changes and ("D", "/etc/passwd") in changes and ("C", "/etc") in changes
    finally:
        engine.snapshots.unmount(snap_key)
    assert not _mounted(merged)
    engine.snapshots.remove(snap_key)
    assert not engine.snapshots.exists(snap_key)


def test_commit_turns_upper_into_a_layer_and_image(engine, snap_key):
    base = make_image(engine, [TarBuilder().dir("etc").file("etc/a", b"a").file("etc/b", b"b").bytes()], ["base:1"])
    engine.snapshots.prepare(snap_key, engine.images.rootfs_chain(base))
    merged = engine.snapshots.mount(snap_key)
    try:
        (merged / "etc/c").write_bytes(b"c")
        os.unlink(merged / "etc/a")
    finally:
        engine.snapshots.unmount(snap_key)
    chain, diff_id, digest = engine.snapshots.commit(snap_key)
    assert engine.content.has(digest) and engine.snapshots.has_layer(chain)
    fs = engine.snapshots.layer_dir(chain)
    assert (fs / "etc/c").read_bytes() == b"c" and stat.S_ISCHR(os.lstat(fs / "etc/a").st_mode)
    assert engine.snapshots.exists(snap_key)              # a plain commit keeps the container's layer
    chain2, diff2, _ = engine.snapshots.commit(snap_key, remove=True)
    assert (chain2, diff2) == (chain, diff_id)             # same content, same ids
    assert not engine.snapshots.exists(snap_key)
    layers = list(base.layers) + [{"digest": digest, "size": engine.content.size(digest), "diff_id": diff_id,
                                   "media_type": "application/vnd.oci.image.layer.v1.tar"}]
    cfg = dict(base.config, rootfs={"type": "layers", "diff_ids": [x["diff_id"] for x in layers]})
    child = engine.images.create(cfg, layers, ["child:1"], parent=base.id)
    key2 = snap_key + "b"
    engine.snapshots.prepare(key2, engine.images.rootfs_chain(child))
    m2 = engine.snapshots.mount(key2)
    try:
        assert sorted(os.listdir(m2 / "etc")) == ["b", "c"]
    finally:
        engine.snapshots.remove(key2)


def test_commit_moving_upper_of_a_build_step(engine, snap_key):
    base = make_image(engine, [TarBuilder().file("x", b"x").bytes()])
    engine.snapshots.prepare(snap_key, engine.images.rootfs_chain(base))
    (engine.snapshots.upper_dir(snap_key) / "made").write_bytes(b"by a RUN step")
    chain, diff_id, digest = engine.snapshots.commit(snap_key, remove=True)
    assert (engine.snapshots.layer_dir(chain) / "made").read_bytes() == b"by a RUN step"
    assert engine.snapshots.layer_meta(chain)["parent"] == engine.images.rootfs_chain(base)
    assert not engine.snapshots.exists(snap_key)


def test_empty_image_and_deep_image(engine, snap_key):
    empty = engine.images.create({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                  "diff_ids": []}, "config": {"Cmd": ["/hello"]}}, [], ["empty:1"])
    assert engine.images.rootfs_chain(empty) is None
    engine.snapshots.prepare(snap_key, None)
    merged = engine.snapshots.mount(snap_key)
    try:
        assert os.listdir(merged) == []
        (merged / "hello").write_bytes(b"hi")
    finally:
        engine.snapshots.remove(snap_key)
    # 120 layers: the overlay options exceed one page with absolute paths in a deep temp root
    deep = make_image(engine, [TarBuilder().file(f"f{i}", str(i).encode()).bytes() for i in range(120)])
    key = snap_key + "deep"
    engine.snapshots.prepare(key, engine.images.rootfs_chain(deep))
    merged = engine.snapshots.mount(key)
    try:
        assert len(os.listdir(merged)) == 120 and (merged / "f0").read_bytes() == b"0"
    finally:
        engine.snapshots.remove(key)


def test_unpack_checks_diff_id_and_leaves_nothing(engine):
    data = TarBuilder().file("a", b"a").bytes()
    with pytest.raises(IntegrityError):
        engine.snapshots.unpack(None, None, io.BytesIO(data), expected_diff_id="sha256:" + "0" * 64)
    assert engine.snapshots.layers() == []
    assert not any(engine.paths.tmp.glob("unpack-*"))
    bad = TarBuilder().file("../x", b"x").bytes()
    with pytest.raises(UnsafeContent):
        engine.snapshots.unpack(None, None, io.BytesIO(bad))
    assert engine.snapshots.layers() == [] and not any(engine.paths.tmp.glob("unpack-*"))


def test_shared_layers_are_shared_and_kept_while_used(engine, snap_key):
    base = TarBuilder().file("base", b"b").bytes()
    a = make_image(engine, [base, TarBuilder().file("a", b"a").bytes()], ["a:1"])
    b = make_image(engine, [base, TarBuilder().file("b", b"b").bytes()], ["b:1"])
    assert engine.snapshots.chain_id(a.diff_ids)[0] == engine.snapshots.chain_id(b.diff_ids)[0]
    assert len(engine.snapshots.layers()) == 3
    engine.images.remove("a:1")
    assert len(engine.snapshots.layers()) == 2            # base stays for b
    engine.snapshots.prepare(snap_key, engine.images.rootfs_chain(b))
    try:
        with pytest.raises(Conflict):
            engine.snapshots.remove_layer(engine.images.rootfs_chain(b))
        engine.images.remove("b:1", force=True, in_use_ids={b.id: ["c" * 64]})
        assert engine.images.get(b.id).repo_tags == ()     # untagged, kept: a container uses it
    finally:
        engine.snapshots.remove(snap_key)
    engine.images.remove(b.id)
    assert engine.snapshots.layers() == [] and list(engine.content.list()) == []


def test_corrupt_transfer_reports_the_digest_mismatch(engine):
    good = TarBuilder().file("a", os.urandom(50_000)).gzip()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    calls = []

    def verify():
        calls.append(1)
        raise IntegrityError("digest mismatch: the blob is not what the registry announced")

    with pytest.raises(IntegrityError):
        engine.snapshots.unpack(None, None, io.BytesIO(bytes(bad)), verify=verify)
    assert calls and engine.snapshots.layers() == []
    # a genuine but hostile layer still reports what is wrong with its content
    hostile = TarBuilder().file("../x", b"x").bytes()
    with pytest.raises(UnsafeContent):
        engine.snapshots.unpack(None, None, io.BytesIO(hostile), verify=lambda: None)
