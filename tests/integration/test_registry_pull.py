"""Push and pull against Debian's reference registry, into and out of real berth stores."""
import json
import tempfile

import pytest
from ansible_collections.berth.engine.plugins.module_utils.engine import Engine
from ansible_collections.berth.engine.plugins.module_utils.errors import NotFound, RegistryError, Unauthorized
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths

from tests.fixtures.registry import (  # noqa: F401 - fixtures
    USERS,
    basic_registry,
    docker_config,
    push_image,
    push_index,
    registry,
    token_registry,
)

pytestmark = [pytest.mark.root, pytest.mark.peers]


def import_tar(engine, tar_path, name):
    """A one-layer image from a rootfs tar, through the store's own API."""
    data = tar_path.read_bytes()
    d = engine.content.put(data)
    config = {"architecture": "amd64", "os": "linux", "created": "2026-11-23T00:00:00Z",
              "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [d]}}
    layer = {"digest": d, "size": len(data), "diff_id": d, "media_type": "application/vnd.oci.image.layer.v1.tar"}
    return engine.images.create(config, [layer], names=[name])


@pytest.fixture
def other_engine(tmp_path):
    """A second, empty store on the same machine."""
    from tests.conftest import unmount_below
    p = Paths(tmp_path / "other" / "root", tmp_path / "other" / "run")
    yield Engine(p)
    unmount_below(tmp_path / "other")


def _events():
    seen = []
    return seen, seen.append


def test_push_busybox_then_pull_into_empty_store(registry, engine, other_engine, busybox_tar,  # noqa: F811
                                                 docker_config):  # noqa: F811
    name = f"{registry.host}/courses/busybox:1"
    rec = import_tar(engine, busybox_tar, name)
    seen, emit = _events()
    digest = engine.registry.push(name, progress=emit)
    assert digest == rec.manifest_digest
    final = [e["status"] for e in seen if e.get("final")]
    size = len(engine.content.read(digest))
    assert final == [f"1: digest: {digest} size: {size}"]
    assert any(e.get("status") == "Pushed" for e in seen)

    seen, emit = _events()
    pulled = other_engine.registry.pull(name, progress=emit)
    assert pulled.id == rec.id
    assert pulled.manifest_digest == digest
    assert f"{registry.host}/courses/busybox@{digest}" in pulled.repo_digests
    assert f"{registry.host}/courses/busybox:1" in pulled.repo_tags
    chain = other_engine.images.rootfs_chain(pulled)
    assert (other_engine.snapshots.layer_dir(chain) / "bin" / "busybox").stat().st_size > 100_000
    statuses = [e["status"] for e in seen if not e.get("id")]
    assert statuses == [f"Digest: {digest}", f"Status: Downloaded newer image for {name}", name]

    seen, emit = _events()
    other_engine.registry.pull(name, progress=emit)
    assert f"Status: Image is up to date for {name}" in [e["status"] for e in seen]
    assert any(e.get("status") == "Already exists" for e in seen)


def test_second_push_skips_and_other_repo_mounts(registry, engine, busybox_tar, docker_config):  # noqa: F811
    a = f"{registry.host}/team/a:1"
    b = f"{registry.host}/team/b:1"
    rec = import_tar(engine, busybox_tar, a)
    engine.registry.push(a)
    seen, emit = _events()
    engine.registry.push(a, progress=emit)
    assert [e["status"] for e in seen if e.get("id")][-1] == "Layer already exists"
    engine.images.tag(a, b)
    seen, emit = _events()
    assert engine.registry.push(b, progress=emit) == rec.manifest_digest
    assert "Mounted from team/a" in [e["status"] for e in seen]


def test_chunked_push(registry, engine, other_engine, busybox_tar, docker_config):  # noqa: F811
    name = f"{registry.host}/chunks/busybox:1"
    rec = import_tar(engine, busybox_tar, name)
    engine.registry.chunk_size = 256 << 10     # several PATCH requests for the layer
    assert engine.registry.push(name) == rec.manifest_digest
    assert other_engine.registry.pull(name).id == rec.id


def test_pull_by_digest_unknown_tag_and_repo(registry, engine, docker_config):  # noqa: F811
    img = push_image(registry, "x/y", "v1", [{"etc/a": b"alpha"}, {"etc/b": b"beta" * 1000}])
    rec = engine.registry.pull(f"{registry.host}/x/y@{img.manifest_digest}")
    assert rec.id == img.config_digest
    assert rec.repo_tags == ()
    with pytest.raises(RegistryError, match="manifest unknown") as info:
        engine.registry.pull(f"{registry.host}/x/y:nope")
    assert info.value.status == 404
    assert "x/y:nope not found" in str(info.value)
    with pytest.raises(RegistryError, match="unknown"):
        engine.registry.pull(f"{registry.host}/no/such:1")


def test_multi_platform_index(registry, engine, other_engine, docker_config):  # noqa: F811
    amd = push_image(registry, "multi/app", None, [{"arch": b"amd64\n"}], arch="amd64")
    arm = push_image(registry, "multi/app", None, [{"arch": b"arm64\n"}], arch="arm64", variant="v8")
    index = push_index(registry, "multi/app", "1", [
        (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        (amd, {"os": "linux", "architecture": "amd64"})])
    rec = engine.registry.pull(f"{registry.host}/multi/app:1")
    assert rec.id == amd.config_digest and rec.config["architecture"] == "amd64"
    assert f"{registry.host}/multi/app@{index}" in rec.repo_digests
    rec2 = other_engine.registry.pull(f"{registry.host}/multi/app:1", platform="linux/arm64")
    assert rec2.id == arm.config_digest
    assert (other_engine.snapshots.layer_dir(other_engine.images.rootfs_chain(rec2)) / "arch").read_bytes() == \
        b"arm64\n"
    with pytest.raises(RegistryError, match="no matching manifest for linux/s390x"):
        other_engine.registry.pull(f"{registry.host}/multi/app:1", platform="linux/s390x")


def test_basic_auth_push_and_pull(basic_registry, engine, other_engine, busybox_tar, docker_config):  # noqa: F811
    name = f"{basic_registry.host}/private/busybox:1"
    rec = import_tar(engine, busybox_tar, name)
    with pytest.raises(Unauthorized):
        engine.registry.push(name)
    engine.registry.login(basic_registry.host, "alice", USERS["alice"])
    assert engine.registry.push(name) == rec.manifest_digest
    with pytest.raises(Unauthorized, match="pull access denied"):
        _pull_logged_out(other_engine, name)
    assert other_engine.registry.pull(name).id == rec.id   # the same Docker config: logged in


def _pull_logged_out(engine, name):
    from ansible_collections.berth.engine.plugins.module_utils.registry.auth import CredentialStore
    with tempfile.TemporaryDirectory() as d:
        engine.registry.credentials = CredentialStore(f"{d}/config.json")
        try:
            engine.registry.pull(name)
        finally:
            engine.registry.credentials = CredentialStore()
            engine.registry._clients.clear()


def test_token_auth_push_then_anonymous_pull(token_registry, engine, other_engine, busybox_tar,  # noqa: F811
                                             docker_config):  # noqa: F811
    name = f"{token_registry.host}/hub/busybox:latest"
    rec = import_tar(engine, busybox_tar, name)
    with pytest.raises(Unauthorized):
        engine.registry.push(name)      # anonymous tokens only grant pull
    engine.registry.login(token_registry.host, "bob", USERS["bob"])
    engine.registry.push(name)
    engine.registry.logout(token_registry.host)
    start = len(token_registry.token.requests)
    assert other_engine.registry.pull(name).id == rec.id
    anon = token_registry.token.requests[start:]
    assert anon and all(r["user"] is None for r in anon)
    # one pull token serves the manifest, the config and every blob
    assert len([r for r in anon if r["scopes"] == ["repository:hub/busybox:pull"]]) == 1


def test_ensure_pulled_is_idempotent(registry, engine, docker_config):  # noqa: F811
    img = push_image(registry, "idem/app", "1", [{"f": b"one"}])
    ref = f"{registry.host}/idem/app:1"
    ch = engine.registry.ensure_pulled(ref, apply=False)
    assert ch.changed and not engine.images.exists(ref)
    ch = engine.registry.ensure_pulled(ref)
    assert ch.changed and engine.images.get(ref).id == img.config_digest
    assert not engine.registry.ensure_pulled(ref).changed
    assert not engine.registry.ensure_pulled(ref, force=True).changed   # same digest upstream
    img2 = push_image(registry, "idem/app", "1", [{"f": b"two"}])   # the tag moves upstream
    ch = engine.registry.ensure_pulled(ref, force=True)
    assert ch.changed and engine.images.get(ref).id == img2.config_digest


def test_not_found_locally_for_push(registry, engine, docker_config):  # noqa: F811
    with pytest.raises(NotFound):
        engine.registry.push(f"{registry.host}/absent/image:1")


def test_docker_hub_names_pull_through_configured_mirrors(registry, engine, tmp_path, docker_config):  # noqa: F811
    from tests.fixtures.registry import RegistryServer
    empty = RegistryServer(tmp_path / "empty-mirror").start()
    try:
        img = push_image(registry, "library/mirrored", "1", [{"m": b"from the mirror"}])
        engine.paths.root.mkdir(parents=True, exist_ok=True)
        engine.paths.config_file.write_text(json.dumps({"registry-mirrors": [empty.url, registry.url]}))
        seen = []
        rec = engine.registry.pull("mirrored:1", progress=seen.append)
        assert rec.id == img.config_digest
        assert "docker.io/library/mirrored:1" in rec.repo_tags
        assert "Status: Downloaded newer image for mirrored:1" in [e["status"] for e in seen]
    finally:
        empty.stop()


def test_ensure_pushed_is_idempotent(registry, engine, busybox_tar, docker_config):  # noqa: F811
    name = f"{registry.host}/idem/pushed:1"
    rec = import_tar(engine, busybox_tar, name)
    ch = engine.registry.ensure_pushed(name, apply=False)
    assert ch.changed and ch.before["digest"] is None and ch.after["digest"] == rec.manifest_digest
    assert engine.registry.remote_digest(name) is None        # check mode pushed nothing
    assert engine.registry.ensure_pushed(name).changed
    assert engine.registry.remote_digest(name) == rec.manifest_digest
    assert not engine.registry.ensure_pushed(name).changed
