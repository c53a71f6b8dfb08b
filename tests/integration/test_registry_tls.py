"""HTTPS registries: verified against a CA from certs.d, refused without it, unverified only when
the registry is insecure (loopback), as Docker behaves."""
import dataclasses
import hashlib
import shutil

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import RegistryError
from ansible_collections.berth.engine.plugins.module_utils.registry.auth import Credentials
from ansible_collections.berth.engine.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.berth.engine.plugins.module_utils.registry.config import RegistryConfig

from tests.fixtures.registry import RegistryServer, docker_config, make_tls, push_image  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.peers]


@pytest.fixture
def tls_registry(tmp_path):
    ca, cert, key = make_tls(tmp_path / "pki")
    reg = RegistryServer(tmp_path / "registry", tls=(cert, key)).start()
    reg.ca = ca
    try:
        yield reg
    finally:
        reg.stop()


def test_ca_from_certs_d_verifies_the_registry(tls_registry, paths):
    # A host name that is not loopback, so berth insists on verified TLS; its certs.d folder
    # holds the test CA. The connection itself goes to 127.0.0.1, which the certificate names.
    name = f"registry.berth.test:{tls_registry.port}"
    d = paths.root / "certs.d" / name
    d.mkdir(parents=True)
    shutil.copy(tls_registry.ca, d / "ca.crt")
    (ep,) = RegistryConfig.load(paths).endpoints(name, paths)
    assert ep.url.startswith("https://") and isinstance(ep.verify, str)
    c = RegistryClient(dataclasses.replace(ep, url=f"https://127.0.0.1:{tls_registry.port}"), Credentials())
    assert c.ping() == 200
    data = b"over verified TLS"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    c.upload_monolithic("tls/app", c.start_upload("tls/app"), digest, len(data), data)
    assert c.read_blob("tls/app", digest, 1024) == data


def test_unknown_ca_is_refused(tls_registry, paths):
    (ep,) = RegistryConfig.load(paths).endpoints(f"registry.berth.test:{tls_registry.port}", paths)
    assert ep.verify is not False
    c = RegistryClient(dataclasses.replace(ep, url=f"https://127.0.0.1:{tls_registry.port}"), Credentials())
    with pytest.raises(RegistryError, match="TLS error"):
        c.ping()


def test_loopback_https_registry_is_used_without_verification(tls_registry, engine, docker_config):  # noqa: F811
    img = push_image(tls_registry, "tls/app", "1", [{"a": b"tls"}])
    rec = engine.registry.pull(f"{tls_registry.host}/tls/app:1")
    assert rec.id == img.config_digest
    assert engine.registry.connect(tls_registry.host).endpoint.url.startswith("https://")
