"""The image store with real layers: import, save, load, tags, rmi, prune, and interop peers."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec, NotFound

from tests.fixtures.images import TarBuilder, make_image

pytestmark = pytest.mark.root


def _import(engine, tar_path, names=("busybox:latest",), changes=('CMD ["/bin/sh"]',)):
    with open(tar_path, "rb") as f:
        return engine.images.import_rootfs(f, changes=list(changes), names=list(names))


def test_import_save_remove_load_gives_same_id(engine, busybox_tar, tmp_path):
    rec = _import(engine, busybox_tar)
    assert rec.repo_tags == ("docker.io/library/busybox:latest",)
    assert rec.config["config"]["Cmd"] == ["/bin/sh"]
    assert (engine.snapshots.layer_dir(engine.images.rootfs_chain(rec)) / "bin/busybox").is_file()
    layer_digests = [x["digest"] for x in rec.layers]
    out = tmp_path / "bb.tar"
    engine.images.save(["busybox"], str(out))
    names = tarfile.open(out).getnames()
    for required in ("manifest.json", "index.json", "oci-layout", "repositories", f"blobs/sha256/{rec.id[7:]}"):
        assert required in names
    assert engine.images.remove("busybox")[-1]["Deleted"].startswith("sha256:")
    with pytest.raises(NotFound):
        engine.images.get("busybox")
    assert engine.snapshots.layers() == []
    assert engine.images.load(str(out)) == ["Loaded image: busybox:latest"]
    again = engine.images.get("busybox")
    assert again.id == rec.id and [x["digest"] for x in again.layers] == layer_digests
    assert again.manifest_digest == rec.manifest_digest


def test_reimport_is_deterministic(engine, busybox_tar):
    a = _import(engine, busybox_tar, names=("a:1",))
    b = _import(engine, busybox_tar, names=("b:1",))
    c = _import(engine, busybox_tar, names=("c:1",), changes=("ENV X=1",))
    assert a.id == b.id != c.id
    assert engine.images.get(a.id).repo_tags == ("docker.io/library/a:1", "docker.io/library/b:1")


def test_lookup_rules(engine):
    rec = make_image(engine, [TarBuilder().file("x", b"x").bytes()], ["localhost:5000/team/app:v1"])
    for ref in (rec.id, rec.id[7:], rec.id[7:19], rec.id[7:10], "localhost:5000/team/app:v1",
                f"localhost:5000/team/app@{rec.manifest_digest}"):
        assert engine.images.get(ref).id == rec.id, ref
    with pytest.raises(NotFound, match="No such image: localhost:5000/team/app:v2"):
        engine.images.get("localhost:5000/team/app:v2")
    engine.images.tag(rec.id[7:19], "alias")
    assert engine.images.get("alias:latest").id == rec.id
    with pytest.raises(InvalidSpec):
        engine.images.tag("alias", "Bad:Name")
    insp = engine.images.inspect("alias")
    assert insp["RepoTags"] == ["alias:latest", "localhost:5000/team/app:v1"]
    assert insp["RootFS"] == {"Type": "layers", "Layers": list(rec.diff_ids)}
    assert insp["GraphDriver"]["Name"] == "overlay2"
    hist = engine.images.history("alias")
    assert hist[0]["Id"] == rec.id and hist[0]["CreatedBy"] == "layer 0" and hist[0]["Size"] == 1


def test_rmi_semantics(engine):
    rec = make_image(engine, [TarBuilder().file("x", b"x").bytes()], ["one:1", "two:1"])
    other = make_image(engine, [TarBuilder().file("y", b"y").bytes()], ["used:1"])
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        engine.images.remove(rec.id[7:19])
    assert engine.images.remove("one:1") == [{"Untagged": "one:1"}]
    with pytest.raises(Conflict) as exc:
        engine.images.remove("used:1", in_use_ids={other.id: ["c0ffee" + "0" * 58]})
    assert str(exc.value) == ('conflict: unable to remove repository reference "used:1" (must force) - '
                              f"container c0ffee000000 is using its referenced image {other.id[7:19]}")
    assert engine.images.remove("used:1", force=True, in_use_ids={other.id: ["c" * 64]}) == \
        [{"Untagged": "used:1"}]
    assert engine.images.get(other.id).repo_tags == ()
    out = engine.images.remove("two:1")
    assert out[0] == {"Untagged": "two:1"} and out[1] == {"Deleted": rec.id}


def test_rmi_prunes_untagged_parents_like_docker(engine):
    layers = [TarBuilder().file(f"f{i}", str(i).encode()).bytes() for i in range(4)]
    base = make_image(engine, layers[:1], ["base:1"])
    step = make_image(engine, layers[:2], [], parent=base.id)
    top = make_image(engine, layers[:3], ["app:1"], parent=step.id)
    out = engine.images.remove("app:1")
    # The untagged step goes with its child; the tagged base stays.
    assert out[0] == {"Untagged": "app:1"}
    assert {"Deleted": top.id} in out and {"Deleted": step.id} in out
    assert engine.images.exists(base.id) and not engine.images.exists(step.id)
    # --no-prune keeps the parent; a parent with another child is kept whatever.
    step = make_image(engine, layers[:2], [], parent=base.id)
    top = make_image(engine, layers[:3], ["app:1"], parent=step.id)
    engine.images.remove("app:1", prune_parents=False)
    assert engine.images.exists(step.id)
    top = make_image(engine, layers[:3], ["app:1"], parent=step.id)
    sibling = make_image(engine, layers[:2] + layers[3:], ["app:2"], parent=step.id)
    engine.images.remove("app:1")
    assert engine.images.exists(step.id) and engine.images.exists(sibling.id)


def test_prune(engine):
    dangling = make_image(engine, [TarBuilder().file("d", b"d").bytes()], [])
    tagged = make_image(engine, [TarBuilder().file("t", b"t").bytes()], ["keep:1"])
    used = make_image(engine, [TarBuilder().file("u", b"u").bytes()], ["used:1"])
    res = engine.images.prune(in_use_ids={used.id: ["x" * 64]})
    assert {"Deleted": dangling.id} in res["ImagesDeleted"] and res["SpaceReclaimed"] > 0
    assert engine.images.exists(tagged.id)
    res = engine.images.prune(all=True, in_use_ids={used.id: ["x" * 64]})
    assert {"Deleted": tagged.id} in res["ImagesDeleted"]
    assert [r.id for r in engine.images.list()] == [used.id]


def test_load_rejects_hostile_archive(engine, tmp_path):
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"],
                                                            "Layers": ["../../../etc/passwd"]}]).encode()),
                           ("c.json", cfg)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    path = tmp_path / "evil.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(NotFound):
        engine.images.load(str(path))
    assert engine.images.list() == []


def _need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def test_skopeo_round_trip_keeps_ids(engine, busybox_tar, tmp_path):
    _need("skopeo")
    rec = _import(engine, busybox_tar, changes=('CMD ["/bin/sh"]', "LABEL a=<b>&c", "EXPOSE 80"))
    engine.images.save(["busybox:latest"], str(tmp_path / "berth.tar"))
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{tmp_path / 'berth.tar'}", f"oci:{layout}:bb"],
                   check=True)
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:bb", f"docker-archive:{tmp_path / 'back.tar'}:bb:back"],
                   check=True)
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:bb", f"oci-archive:{tmp_path / 'oci.tar'}:bb"],
                   check=True)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    assert manifest["config"]["digest"] == rec.id       # skopeo re-encodes the config: same bytes
    engine.images.remove("busybox")
    assert engine.images.load(str(tmp_path / "back.tar")) == ["Loaded image: bb:back"]
    assert engine.images.get("bb:back").id == rec.id
    assert engine.images.load(str(layout)) == [f"Loaded image ID: {rec.id}"]
    assert engine.images.load(str(tmp_path / "oci.tar")) == [f"Loaded image ID: {rec.id}"]
    loaded = engine.images.get(rec.id)
    assert loaded.diff_ids == rec.diff_ids


def test_umoci_reads_and_writes_images_we_load(engine, busybox_tar, tmp_path):
    _need("skopeo")
    _need("umoci")
    rec = _import(engine, busybox_tar)
    engine.images.save(["busybox"], str(tmp_path / "b.tar"))
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{tmp_path / 'b.tar'}", f"oci:{layout}:bb"], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:bb", str(bundle)], check=True, capture_output=True)
    ours = engine.snapshots.layer_dir(engine.images.rootfs_chain(rec))
    assert sorted(os.listdir(bundle / "rootfs")) == sorted(os.listdir(ours))
    assert (bundle / "rootfs/bin/busybox").read_bytes() == (ours / "bin/busybox").read_bytes()
    # umoci adds a layer (a new file and a deletion), then berth loads what it wrote
    (bundle / "rootfs/etc/motd").write_text("from umoci\n")
    os.unlink(bundle / "rootfs/etc/group")
    subprocess.run(["umoci", "repack", "--image", f"{layout}:bb2", str(bundle)], check=True, capture_output=True)
    subprocess.run(["umoci", "config", "--image", f"{layout}:bb2", "--config.cmd", "/bin/true"], check=True,
                   capture_output=True)
    engine.images.load(str(layout))
    index = json.loads((layout / "index.json").read_text())
    desc = next(d for d in index["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == "bb2")
    manifest = json.loads((layout / "blobs/sha256" / desc["digest"][7:]).read_text())
    two = engine.images.get(manifest["config"]["digest"])
    assert len(two.layers) == 2 and two.config["config"]["Cmd"] == ["/bin/true"]
    key = f"umoci-{os.getpid()}"
    engine.snapshots.prepare(key, engine.images.rootfs_chain(two))
    try:
        merged = engine.snapshots.mount(key)
        assert (merged / "etc/motd").read_text() == "from umoci\n" and not (merged / "etc/group").exists()
    finally:
        engine.snapshots.remove(key)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _docker_answers(), reason="no Docker engine answers (not needed by the suite)")
def test_docker_round_trip(engine, busybox_tar, tmp_path):
    rec = _import(engine, busybox_tar, names=(f"berth-interop-{os.getpid()}:1",))
    out = tmp_path / "to-docker.tar"
    name = f"berth-interop-{os.getpid()}:1"
    engine.images.save([name], str(out))
    try:
        subprocess.run(["docker", "load", "-i", str(out)], check=True, capture_output=True)
        docker_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", name], check=True,
                                   capture_output=True, text=True).stdout.strip()
        assert docker_id == rec.id
        back = tmp_path / "from-docker.tar"
        subprocess.run(["docker", "save", "-o", str(back), name], check=True)
        engine.images.remove(name)
        engine.images.load(str(back))
        assert engine.images.get(name).id == rec.id
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True)


def test_kill_9_during_import_leaves_nothing_visible_and_next_import_works(paths, tmp_path):
    import signal
    import time as _time
    big = TarBuilder()
    for i in range(8):
        big.file(f"blob{i}", os.urandom(4_000_000))
    data = big.bytes()
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run))
    cmd = [sys.executable, "-c", "import sys; from ansible_collections.berth.engine.plugins.module_utils.cli.main "
           "import main; sys.exit(main())", "import", "-", "killed:1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        proc.stdin.write(data[: len(data) // 2])     # half the tarball, then the writer stalls
        proc.stdin.flush()
        deadline = _time.monotonic() + 60
        while not any(paths.tmp.glob("unpack-*/fs/blob1")) and _time.monotonic() < deadline:
            _time.sleep(0.02)
        assert any(paths.tmp.glob("unpack-*/fs/blob1")), "the import never started unpacking"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    from ansible_collections.berth.engine.plugins.module_utils.engine import Engine
    engine = Engine(paths)
    assert engine.images.list() == [] and engine.snapshots.layers() == [] and list(engine.content.list()) == []
    rec = engine.images.import_rootfs(io.BytesIO(data), names=["killed:1"])
    assert engine.images.get("killed:1").id == rec.id
    assert not any(paths.tmp.glob("unpack-*"))        # the dead process's folder was cleaned


def test_prune_sweeps_old_unreferenced_blobs_only(engine):
    rec = make_image(engine, [TarBuilder().file("x", b"x").bytes()], ["kept:1"])
    old = engine.content.put(b"left by a failed pull")
    fresh = engine.content.put(b"a pull in progress")
    past = __import__("time").time() - 7200
    os.utime(engine.content.path(old), (past, past), follow_symlinks=False)
    for d in [rec.id, rec.manifest_digest]:
        os.utime(engine.content.path(d), (past, past), follow_symlinks=False)
    engine.images.prune()
    assert not engine.content.has(old) and engine.content.has(fresh)
    assert engine.content.has(rec.id) and engine.content.has(rec.manifest_digest)
