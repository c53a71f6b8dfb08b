import json

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
from ansible_collections.berth.engine.plugins.module_utils.registry.config import (
    RegistryConfig,
    split_host_port,
)


@pytest.fixture
def paths(tmp_path):
    return Paths(tmp_path / "root", tmp_path / "run")


@pytest.mark.parametrize("host, insecure", [
    ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.9.9.9", True), ("[::1]:5000", True),
    ("registry.example.com", False), ("10.1.2.3:5000", False), ("docker.io", False),
    ("myreg:5000", True), ("192.168.7.9", True),
])
def test_insecure(host, insecure):
    cfg = RegistryConfig(insecure=("myreg:5000", "192.168.0.0/16"))
    assert cfg.is_insecure(host) is insecure


def test_secure_host_is_https_only_with_verification(paths):
    eps = RegistryConfig().endpoints("registry.example.com", paths)
    assert [e.url for e in eps] == ["https://registry.example.com"]
    assert eps[0].verify and eps[0].secure_transport


def test_insecure_host_tries_https_then_http(paths):
    eps = RegistryConfig().endpoints("127.0.0.1:5000", paths)
    assert [e.url for e in eps] == ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
    assert all(e.insecure for e in eps)


def test_mirrors_for_docker_hub_only(paths):
    paths.root.mkdir(parents=True)
    paths.config_file.write_text(json.dumps({"registry-mirrors": ["https://mirror.example.com/"],
                                             "insecure-registries": ["reg.lan:5000"]}))
    cfg = RegistryConfig.load(paths)
    hub = cfg.endpoints("docker.io", paths)
    assert [e.url for e in hub] == ["https://mirror.example.com", "https://registry-1.docker.io"]
    assert hub[0].mirror and not hub[1].mirror
    assert [e.url for e in cfg.endpoints("quay.io", paths)] == ["https://quay.io"]
    assert cfg.is_insecure("reg.lan:5000")


def test_bad_config_names_the_key(paths):
    paths.root.mkdir(parents=True)
    paths.config_file.write_text(json.dumps({"registry-mirrors": ["mirror.example.com"]}))
    with pytest.raises(InvalidSpec, match="registry-mirrors"):
        RegistryConfig.load(paths)
    paths.config_file.write_text(json.dumps({"insecure-registries": "reg:5000"}))
    with pytest.raises(InvalidSpec, match="insecure-registries"):
        RegistryConfig.load(paths)


def test_per_registry_ca_and_client_cert(paths, tmp_path):
    d = paths.root / "certs.d" / "reg.example.com:5000"
    d.mkdir(parents=True)
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB-our-test-ca\n-----END CERTIFICATE-----\n")
    (d / "client.cert").write_text("cert")
    (d / "client.key").write_text("key")
    cfg = RegistryConfig.load(paths)
    (ep,) = cfg.endpoints("reg.example.com:5000", paths)
    assert isinstance(ep.verify, str) and "MIIB-our-test-ca" in open(ep.verify).read()
    assert ep.cert == (str(d / "client.cert"), str(d / "client.key"))


def test_split_host_port():
    assert split_host_port("a:5000") == ("a", 5000)
    assert split_host_port("[::1]:5000") == ("::1", 5000)
    assert split_host_port("a") == ("a", None)
