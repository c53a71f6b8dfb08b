import base64
import json
import os
import stat

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    InvalidSpec,
    LimitExceeded,
    Unauthorized,
)
from ansible_collections.berth.engine.plugins.module_utils.registry import auth
from ansible_collections.berth.engine.plugins.module_utils.registry.auth import (
    Credentials,
    CredentialStore,
    TokenCache,
    normalize_server,
    parse_challenges,
    parse_token_response,
)


def test_parses_docker_hub_challenge():
    h = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
         'scope="repository:library/alpine:pull"')
    (ch,) = parse_challenges(h)
    assert ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                         "scope": "repository:library/alpine:pull"}


def test_parses_basic_and_several_challenges():
    chs = parse_challenges('Basic realm="berth test", Bearer realm="https://t/x",error="invalid_token"')
    assert [c.scheme for c in chs] == ["basic", "bearer"]
    assert chs[0].params["realm"] == "berth test"
    assert chs[1].params["error"] == "invalid_token"


def test_parses_escaped_quotes():
    (ch,) = parse_challenges(r'Basic realm="a \"quoted\" realm"')
    assert ch.params["realm"] == 'a "quoted" realm'


@pytest.mark.parametrize("given, want", [
    ("https://index.docker.io/v1/", "docker.io"), ("docker.io", "docker.io"), ("", "docker.io"),
    ("registry-1.docker.io", "docker.io"), ("localhost:5000", "localhost:5000"),
    ("https://Reg.Example.com:443/v2/", "reg.example.com:443"), ("http://127.0.0.1:5000", "127.0.0.1:5000"),
])
def test_normalize_server(given, want):
    assert normalize_server(given) == want


def test_normalize_server_refuses_garbage():
    with pytest.raises(InvalidSpec):
        normalize_server("bad host$")


def test_store_writes_docker_format_with_mode_0600(tmp_path):
    path = tmp_path / "cfg" / "config.json"
    s = CredentialStore(path)
    s.store("localhost:5000", Credentials("alice", "s3cret:with:colons"))
    s.store("docker.io", Credentials("bob", "pw"))
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"]["localhost:5000"]["auth"]).decode() == "alice:s3cret:with:colons"
    assert "https://index.docker.io/v1/" in data["auths"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert s.get("http://localhost:5000/") == Credentials("alice", "s3cret:with:colons")
    assert s.get("index.docker.io").username == "bob"
    assert s.get("other:1").empty


def test_store_keeps_unrelated_settings_and_erase(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"other.io": {"auth": base64.b64encode(b"u:p").decode()}},
                                "psFormat": "table {{.ID}}"}))
    s = CredentialStore(path)
    s.store("localhost:5000", Credentials("a", "b"))
    assert s.erase("localhost:5000") is True
    assert s.erase("localhost:5000") is False
    data = json.loads(path.read_text())
    assert data["psFormat"] == "table {{.ID}}"
    assert list(data["auths"]) == ["other.io"]


def test_bad_auth_field_names_the_registry(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"reg.io": {"auth": "%%%notbase64"}}}))
    with pytest.raises(InvalidSpec, match="reg.io"):
        CredentialStore(path).get("reg.io")


def test_docker_config_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert auth.docker_config_path() == tmp_path / "config.json"


HELPER = """#!/bin/sh
# A credential helper speaking docker's protocol, keeping secrets in one file per server.
store="$HELPER_DIR"
action="$1"
case "$action" in
  store) python3 -c 'import json,sys,hashlib,os; d=json.load(sys.stdin); open(os.path.join(sys.argv[1], hashlib.sha1(d["ServerURL"].encode()).hexdigest()),"w").write(json.dumps(d))' "$store" ;;
  get) f="$store/$(python3 -c 'import sys,hashlib; print(hashlib.sha1(sys.stdin.read().encode()).hexdigest())')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) f="$store/$(python3 -c 'import sys,hashlib; print(hashlib.sha1(sys.stdin.read().encode()).hexdigest())')"; if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
"""


@pytest.fixture
def helper(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "docker-credential-berthtest"
    prog.write_text(HELPER)
    prog.chmod(0o755)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("HELPER_DIR", str(secrets))
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return secrets


def test_credential_helper_round_trip(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "berthtest"}))
    s = CredentialStore(path)
    s.store("localhost:5000", Credentials("carol", "hunter2"))
    data = json.loads(path.read_text())
    assert data["auths"]["localhost:5000"] == {}          # the secret is in the helper, not the file
    assert len(list(helper.iterdir())) == 1
    assert s.get("localhost:5000") == Credentials("carol", "hunter2")
    assert s.erase("localhost:5000") is True
    assert s.get("localhost:5000").empty


def test_cred_helpers_per_registry_and_identity_token(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"reg.example.com": "berthtest"}}))
    s = CredentialStore(path)
    s.store("reg.example.com", Credentials(identity_token="refresh-me"))
    assert s.get("reg.example.com") == Credentials("", "", "refresh-me")
    s.store("other.example.com", Credentials("u", "p"))
    assert "auth" in json.loads(path.read_text())["auths"]["other.example.com"]


def test_missing_helper_is_a_clear_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "doesnotexist-berth"}))
    with pytest.raises(Exception, match="docker-credential-doesnotexist-berth"):
        CredentialStore(path).get("reg.io")


def test_token_response_parsing_and_caps():
    tok, exp = parse_token_response(json.dumps({"access_token": "abc", "expires_in": 300}).encode(), "r")
    assert (tok, exp) == ("abc", 300.0)
    assert parse_token_response(b'{"token": "t"}', "r") == ("t", 60.0)
    with pytest.raises(Unauthorized):
        parse_token_response(b'{"token": ""}', "r")
    with pytest.raises(Unauthorized):
        parse_token_response(b'{"token": "a\\r\\nInjected: 1"}', "r")
    with pytest.raises(LimitExceeded):
        parse_token_response(b'{"token": "' + b"x" * (2 << 20) + b'"}', "r")


def test_token_cache_expiry():
    c = TokenCache()
    key = ("realm", "svc", "repository:a:pull", "")
    c.put(key, "tok", 300)
    assert c.get(key) == "tok"
    c.put(key, "old", 0)       # already within the renewal margin: treated as... kept 5 s at least
    assert c.get(key) == "old"
    assert c.get(("realm", "svc", "repository:b:pull", "")) is None
