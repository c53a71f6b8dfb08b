import json

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import LimitExceeded, RegistryError
from ansible_collections.berth.engine.plugins.module_utils.registry import manifest as m

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _manifest(layers=1, mt=m.OCI_MANIFEST):
    return json.dumps({"schemaVersion": 2, "mediaType": mt,
                       "config": {"mediaType": m.OCI_CONFIG, "digest": D1, "size": 10},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": D2, "size": 20}] * layers}).encode()


def _index(*plats):
    return json.dumps({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [
        {"mediaType": m.OCI_MANIFEST, "digest": d, "size": 5, "platform": p} for d, p in plats]}).encode()


def test_parse_manifest():
    man = m.parse_manifest(_manifest(2), m.OCI_MANIFEST)
    assert man.config.digest == D1 and [x.digest for x in man.layers] == [D2, D2]


@pytest.mark.parametrize("bad", [
    {"config": {"digest": "sha256:../../etc", "size": 1}, "layers": []},
    {"config": {"digest": D1, "size": -1}, "layers": []},
    {"config": {"digest": D1, "size": True}, "layers": []},
    {"config": {"digest": D1, "size": 1}, "layers": "x"},
    {"config": {"digest": D1, "size": 1}, "layers": [{"digest": "md5:abc", "size": 1}]},
])
def test_hostile_manifests_are_refused(bad):
    with pytest.raises(RegistryError):
        m.parse_manifest(json.dumps(bad).encode(), m.OCI_MANIFEST)


def test_schema1_is_refused_clearly():
    with pytest.raises(RegistryError, match="schema 1"):
        m.parse_manifest(json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), m.DOCKER_V1_SIGNED)


def test_size_caps():
    with pytest.raises(LimitExceeded):
        m.parse_manifest(b" " * (m.MAX_MANIFEST + 1), m.OCI_MANIFEST)
    with pytest.raises(LimitExceeded):
        m.parse_manifest(_manifest(m.MAX_LAYERS + 1), m.OCI_MANIFEST)


def test_media_type_detection():
    assert m.media_type_of(_manifest(mt=m.DOCKER_MANIFEST), "text/plain") == m.DOCKER_MANIFEST
    no_mt = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert m.media_type_of(no_mt, m.DOCKER_LIST) == m.DOCKER_LIST
    assert m.media_type_of(no_mt, "") == m.OCI_INDEX


def test_platform_selection():
    idx = m.parse_index(_index((D1, {"os": "linux", "architecture": "amd64"}),
                               (D2, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
                               (D3, {"os": "linux", "architecture": "arm", "variant": "v7"})), m.OCI_INDEX)
    assert m.select_platform(idx, m.parse_platform("linux/amd64")).digest == D1
    assert m.select_platform(idx, m.parse_platform("linux/arm64")).digest == D2
    assert m.select_platform(idx, m.parse_platform("linux/arm/v7")).digest == D3
    with pytest.raises(RegistryError, match="linux/s390x"):
        m.select_platform(idx, m.parse_platform("linux/s390x"))


def test_exact_variant_preferred():
    idx = m.parse_index(_index((D1, {"os": "linux", "architecture": "arm", "variant": "v6"}),
                               (D2, {"os": "linux", "architecture": "arm", "variant": "v7"})), m.OCI_INDEX)
    assert m.select_platform(idx, m.parse_platform("linux/arm/v7")).digest == D2
    assert m.select_platform(idx, m.parse_platform("linux/arm/v6")).digest == D1


def test_parse_platform():
    assert str(m.parse_platform("linux/x86_64")) == "linux/amd64"
    assert m.host_platform().os == "linux"
    assert m.parse_platform(None) == m.host_platform()
    with pytest.raises(Exception, match="platform"):
        m.parse_platform("linux/")


def test_foreign_layers():
    d = m.Descriptor.from_dict({"mediaType": m.DOCKER_FOREIGN, "digest": D1, "size": 1,
                                "urls": ["https://x/y"]}, "layers[0]")
    assert d.foreign and d.urls == ("https://x/y",)
