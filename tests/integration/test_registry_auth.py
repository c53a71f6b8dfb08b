"""Authentication against Debian's reference registry: anonymous, htpasswd Basic, Bearer tokens."""
import base64
import http.server
import json
import threading

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import RegistryError, Unauthorized
from ansible_collections.berth.engine.plugins.module_utils.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
)
from ansible_collections.berth.engine.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.berth.engine.plugins.module_utils.registry.config import Endpoint, RegistryConfig
from ansible_collections.berth.engine.plugins.module_utils.registry.service import RegistryService
from ansible_collections.berth.engine.plugins.module_utils.store.content import ContentStore

from tests.fixtures.registry import (  # noqa: F401 - fixtures
    USERS,
    basic_registry,
    docker_config,
    free_port,
    registry,
    token_registry,
)

pytestmark = pytest.mark.peers


@pytest.fixture
def service(paths, docker_config):  # noqa: F811
    return RegistryService(paths, ContentStore(paths), None)


def _client(reg, creds=None):
    ep = RegistryConfig().endpoints(reg.host)[-1]
    return RegistryClient(ep, creds or Credentials())


def test_anonymous_registry_needs_no_login(registry, service):  # noqa: F811
    assert _client(registry).ping(authenticate=True) == 200


def test_basic_login_stores_and_logout_removes(basic_registry, service, docker_config):  # noqa: F811
    assert service.login(basic_registry.host, "alice", USERS["alice"]) == "Login Succeeded"
    data = json.loads((docker_config / "config.json").read_text())
    entry = data["auths"][basic_registry.host]
    assert base64.b64decode(entry["auth"]).decode() == f"alice:{USERS['alice']}"
    assert service.logout(basic_registry.host) == f"Removing login credentials for {basic_registry.host}"
    assert basic_registry.host not in json.loads((docker_config / "config.json").read_text())["auths"]
    assert service.logout(basic_registry.host) == f"Not logged in to {basic_registry.host}"


def test_basic_login_with_wrong_password_stores_nothing(basic_registry, service, docker_config):  # noqa: F811
    with pytest.raises(Unauthorized, match="login to"):
        service.login(basic_registry.host, "alice", "wrong")
    assert not (docker_config / "config.json").exists()


def test_basic_registry_refuses_anonymous_access(basic_registry):  # noqa: F811
    with pytest.raises(Unauthorized):
        _client(basic_registry).has_blob("a/b", "sha256:" + "0" * 64)
    assert _client(basic_registry, Credentials("bob", USERS["bob"])).has_blob("a/b", "sha256:" + "0" * 64) is False


def test_token_flow_scopes_and_reuse(token_registry, service):  # noqa: F811
    tok = token_registry.token
    c = _client(token_registry, Credentials("alice", USERS["alice"]))
    loc = c.start_upload("team/app")
    data = b"layer bytes" * 100
    import hashlib
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    c.upload_monolithic("team/app", loc, d, len(data), data)
    assert any("repository:team/app:pull,push" in r["scopes"] for r in tok.requests)
    n = len(tok.requests)
    for _ in range(3):
        assert c.read_blob("team/app", d, 1 << 20) == data
    # one token for the pull scope, then reused until it expires
    assert len(tok.requests) == n + 1
    assert tok.requests[-1]["scopes"] == ["repository:team/app:pull"]
    assert tok.requests[-1]["user"] == "alice"
    # an anonymous client gets a pull-only token: reading works, pushing is refused
    anon = _client(token_registry)
    assert anon.read_blob("team/app", d, 1 << 20) == data
    assert tok.requests[-1]["user"] is None
    with pytest.raises(Unauthorized):
        anon.start_upload("team/app")


def test_token_login_wrong_password(token_registry, service, docker_config):  # noqa: F811
    with pytest.raises(Unauthorized):
        service.login(token_registry.host, "alice", "nope")
    assert service.login(token_registry.host, "bob", USERS["bob"]) == "Login Succeeded"
    assert CredentialStore().get(token_registry.host) == Credentials("bob", USERS["bob"])


def test_unreachable_registry_names_host_and_port(service):
    port = free_port()
    with pytest.raises(RegistryError, match=f"127.0.0.1:{port}"):
        service.connect(f"127.0.0.1:{port}")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Origin A redirects blob reads to origin B; both record the Authorization they got."""

    seen: list = []
    target = ""
    status = 307

    def log_message(self, *a):
        pass

    def do_GET(self):  # noqa: N802
        type(self).seen.append((self.server.server_address[1], self.path, self.headers.get("Authorization")))
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif "/blobs/" in self.path and type(self).target:
            self.send_response(type(self).status)
            if type(self).status == 429:
                self.send_header("Retry-After", "42")
            else:
                self.send_header("Location", type(self).target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            body = b"redirected"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def _serve(handler, addr="127.0.0.1"):
    srv = http.server.ThreadingHTTPServer((addr, 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_authorization_dropped_on_cross_origin_redirect():
    import hashlib
    body = b"redirected"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()

    class A(_Recorder):
        seen = []

    class B(_Recorder):
        seen = []

    b = _serve(B, "127.0.0.2")   # another origin, as S3-style blob storage is
    a = _serve(A)
    try:
        A.target = f"http://127.0.0.2:{b.server_address[1]}/storage/blob"
        host = f"127.0.0.1:{a.server_address[1]}"
        c = RegistryClient(Endpoint(host, f"http://{host}", verify=False, insecure=True), Credentials("u", "p"))
        c._challenge = Challenge("basic", {"realm": "x"})   # as if the registry had asked for Basic
        assert c.read_blob("a/b", digest, 1024) == body
        assert A.seen[-1][2] and A.seen[-1][2].startswith("Basic ")
        assert B.seen and B.seen[-1][2] is None
    finally:
        for s in (a, b):
            s.shutdown()
            s.server_close()


def test_rate_limit_reports_retry_after():
    class R(_Recorder):
        seen = []
        status = 429
        target = "x"

    srv = _serve(R)
    try:
        host = f"127.0.0.1:{srv.server_address[1]}"
        c = RegistryClient(Endpoint(host, f"http://{host}", verify=False, insecure=True))
        with pytest.raises(RegistryError, match="retry after 42 seconds") as info:
            c.read_blob("a/b", "sha256:" + "1" * 64, 1024)
        assert info.value.status == 429
    finally:
        srv.shutdown()
        srv.server_close()
