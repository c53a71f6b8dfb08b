"""Interop with skopeo, both ways, through Debian's reference registry."""
import json
import shutil
import subprocess

import pytest

from tests.fixtures.registry import (  # noqa: F401
    PushedImage,  # noqa: I001
    docker_config,
    make_layer,
    registry,
    write_oci_layout,
)
from tests.integration.test_registry_pull import import_tar, other_engine  # noqa: F401 - fixture

pytestmark = [pytest.mark.root, pytest.mark.peers]


@pytest.fixture(autouse=True)
def _need_skopeo():
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (scripts/setup.sh installs it)")


def skopeo(*args):
    out = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_berth_push_skopeo_copies_out(registry, engine, busybox_tar, tmp_path, docker_config):  # noqa: F811
    name = f"{registry.host}/interop/busybox:1"
    rec = import_tar(engine, busybox_tar, name)
    digest = engine.registry.push(name)
    layout = tmp_path / "layout"
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{name}", f"oci:{layout}:1")
    index = json.loads((layout / "index.json").read_text())
    # skopeo verified every blob against the manifest berth pushed, and kept that manifest as is
    assert index["manifests"][0]["digest"] == digest
    manifest = json.loads((layout / "blobs" / "sha256" / digest[7:]).read_bytes())
    assert manifest["config"]["digest"] == rec.id
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{name}"))
    assert info["Digest"] == digest
    assert info["Architecture"] == "amd64"


def test_skopeo_push_berth_pulls(registry, engine, tmp_path, docker_config):  # noqa: F811
    import hashlib
    blob, diff_id = make_layer({"hello.txt": b"from skopeo\n", "bin/tool": b"\x7fELF" + b"\0" * 4000})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    ld = "sha256:" + hashlib.sha256(blob).hexdigest()
    cd = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                                      "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld,
                                       "size": len(blob)}]}).encode()
    img = PushedImage("sha256:" + hashlib.sha256(manifest).hexdigest(), cd, (ld,), manifest, config,
                      {ld: blob, cd: config})
    layout = write_oci_layout(tmp_path / "src", img, "v1")
    name = f"{registry.host}/interop/fromskopeo:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{name}")
    rec = engine.registry.pull(name)
    assert rec.id == cd
    chain = engine.images.rootfs_chain(rec)
    assert (engine.snapshots.layer_dir(chain) / "hello.txt").read_bytes() == b"from skopeo\n"
    # and a docker-archive made by skopeo from berth's push round-trips with the same config
    engine.images.tag(name, f"{registry.host}/interop/again:1")
    engine.registry.push(f"{registry.host}/interop/again:1")
    archive = tmp_path / "img.tar"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/interop/again:1",
           f"docker-archive:{archive}:interop/again:1")
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{registry.host}/interop/fromarchive:1")
    assert engine.registry.pull(f"{registry.host}/interop/fromarchive:1").id == cd
