"""Registry credentials and tokens.

- Credentials live where Docker keeps them: ``$DOCKER_CONFIG/config.json`` or
  ``~/.docker/config.json``, under ``auths`` with a base64 ``user:password`` ``auth`` field, or
  in a credential helper (``credsStore`` / ``credHelpers``: ``docker-credential-<name>``
  speaking JSON on stdin/stdout).
- Tokens follow the distribution token flow: a 401 names a realm, a service and a scope in
  WWW-Authenticate; the token from the realm is reused for that scope until it expires.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BerthError, InvalidSpec, LimitExceeded, RegistryError, Unauthorized
from ..fsutil import atomic_write
from ..reference import DEFAULT_DOMAIN

HUB_AUTH_KEY = "https://index.docker.io/v1/"
MAX_TOKEN_RESPONSE = 1 << 20
MAX_CONFIG_FILE = 4 << 20
HELPER_TIMEOUT = 30

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""      # an OAuth refresh token (helpers return username "<token>")

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


@dataclass(frozen=True)
class Challenge:
    scheme: str                   # "basic" or "bearer", lower case
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate header (several challenges may share one header)."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if not m:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end():]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM_RE.match(rest)
            # A bare word followed by '=' is a param; a bare word alone starts the next challenge.
            if not pm:
                break
            key = pm.group(1).lower()
            val = pm.group(2) if pm.group(2) is not None else (pm.group(3) or "")
            params[key] = re.sub(r"\\(.)", r"\1", val)
            rest = rest[pm.end():]
        out.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return out


def auth_key(server: str) -> str:
    """The key Docker files a registry's credentials under."""
    host = normalize_server(server)
    return HUB_AUTH_KEY if host == DEFAULT_DOMAIN else host


def normalize_server(server: str) -> str:
    """``https://index.docker.io/v1/``, ``docker.io``, ``registry-1.docker.io`` -> ``docker.io``."""
    s = (server or "").strip()
    if not s:
        return DEFAULT_DOMAIN
    if "://" in s:
        s = s.split("://", 1)[1]
    s = s.split("/", 1)[0].lower() if "/" in s else s.lower()
    if s in ("index.docker.io", "registry-1.docker.io", "docker.io", "registry.hub.docker.com"):
        return DEFAULT_DOMAIN
    if not re.match(r"^[a-z0-9.\-\[\]:]+$", s):
        raise InvalidSpec(f"invalid registry address {server!r}", field="registry", value=server)
    return s


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    if base:
        return Path(base) / "config.json"
    return Path(os.path.expanduser("~")) / ".docker" / "config.json"


class CredentialStore:
    """Docker's config.json and its credential helpers."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else docker_config_path()

    # --- the file ---------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        try:
            if self.path.stat().st_size > MAX_CONFIG_FILE:
                raise LimitExceeded(f"{self.path} is larger than {MAX_CONFIG_FILE} bytes", path=str(self.path))
            data = json.loads(self.path.read_bytes() or b"{}")
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise InvalidSpec(f"{self.path} is not valid JSON: {exc}", path=str(self.path)) from exc
        if not isinstance(data, dict):
            raise InvalidSpec(f"{self.path} must hold a JSON object", path=str(self.path))
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.path, json.dumps(data, indent="\t") + "\n", mode=0o600)

    def _helper_for(self, data: dict[str, Any], key: str, host: str) -> str | None:
        helpers = data.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for k in (host, key):
                if isinstance(helpers.get(k), str) and helpers[k]:
                    return helpers[k]
        store = data.get("credsStore")
        return store if isinstance(store, str) and store else None

    # --- lookups ------------------------------------------------------------------------
    def get(self, server: str) -> Credentials:
        host = normalize_server(server)
        key = auth_key(host)
        data = self.load()
        helper = self._helper_for(data, key, host)
        if helper:
            creds = helper_get(helper, key)
            if not creds.empty:
                return creds
        auths = data.get("auths") or {}
        if not isinstance(auths, dict):
            return Credentials()
        for k, entry in auths.items():
            try:
                if normalize_server(k) != host or not isinstance(entry, dict):
                    continue
            except InvalidSpec:
                continue
            return _decode_entry(entry, k)
        return Credentials()

    def store(self, server: str, creds: Credentials) -> None:
        host = normalize_server(server)
        key = auth_key(host)
        data = self.load()
        helper = self._helper_for(data, key, host)
        auths = data.setdefault("auths", {})
        if helper:
            helper_store(helper, key, creds)
            auths[key] = {}
        else:
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            auths[key] = {"auth": token}
            if creds.identity_token:
                auths[key]["identitytoken"] = creds.identity_token
        self._save(data)

    def erase(self, server: str) -> bool:
        """Forget a registry's credentials; False when there were none."""
        host = normalize_server(server)
        key = auth_key(host)
        data = self.load()
        found = False
        helper = self._helper_for(data, key, host)
        if helper:
            found = helper_erase(helper, key) or found
        auths = data.get("auths") or {}
        for k in list(auths):
            try:
                same = normalize_server(k) == host
            except InvalidSpec:
                same = False
            if same:
                del auths[k]
                found = True
        if found:
            self._save(data)
        return found


def _decode_entry(entry: dict[str, Any], key: str) -> Credentials:
    ident = entry.get("identitytoken") or ""
    raw = entry.get("auth")
    if raw:
        try:
            user, _, pw = base64.b64decode(raw).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSpec(f"the stored credentials for {key} are not valid base64 'user:password'",
                              field="auth", value=key) from exc
        return Credentials(user, pw, ident)
    return Credentials(entry.get("username") or "", entry.get("password") or "", ident)


# --- credential helpers (docker-credential-<name> get|store|erase) ------------------------------

def _run_helper(name: str, action: str, payload: str) -> subprocess.CompletedProcess[str]:
    if not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise InvalidSpec(f"invalid credential helper name {name!r}", field="credsStore", value=name)
    prog = f"docker-credential-{name}"
    try:
        return subprocess.run([prog, action], input=payload, capture_output=True, text=True,
                              timeout=HELPER_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise BerthError(f"credential helper {prog} is configured but not installed", helper=prog) from exc
    except subprocess.TimeoutExpired as exc:
        raise BerthError(f"credential helper {prog} did not answer in {HELPER_TIMEOUT}s", helper=prog) from exc


def helper_get(name: str, server: str) -> Credentials:
    cp = _run_helper(name, "get", server)
    if cp.returncode != 0:
        if "credentials not found" in (cp.stdout + cp.stderr).lower():
            return Credentials()
        raise BerthError(f"credential helper docker-credential-{name} get failed: "
                         f"{(cp.stderr or cp.stdout).strip()}", helper=name)
    try:
        d = json.loads(cp.stdout)
    except ValueError as exc:
        raise BerthError(f"credential helper docker-credential-{name} returned invalid JSON", helper=name) from exc
    user, secret = d.get("Username") or "", d.get("Secret") or ""
    if user == "<token>":
        return Credentials("", "", secret)
    return Credentials(user, secret)


def helper_store(name: str, server: str, creds: Credentials) -> None:
    user, secret = ("<token>", creds.identity_token) if creds.identity_token and not creds.password \
        else (creds.username, creds.password)
    cp = _run_helper(name, "store", json.dumps({"ServerURL": server, "Username": user, "Secret": secret}))
    if cp.returncode != 0:
        raise BerthError(f"credential helper docker-credential-{name} store failed: "
                         f"{(cp.stderr or cp.stdout).strip()}", helper=name)


def helper_erase(name: str, server: str) -> bool:
    cp = _run_helper(name, "erase", server)
    if cp.returncode != 0:
        if "credentials not found" in (cp.stdout + cp.stderr).lower():
            return False
        raise BerthError(f"credential helper docker-credential-{name} erase failed: "
                         f"{(cp.stderr or cp.stdout).strip()}", helper=name)
    return True


# --- bearer tokens ----------------------------------------------------------------------------

class TokenCache:
    """Tokens by (realm, service, scopes, user), kept until shortly before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > time.monotonic():
                return hit[0]
            return None

    def put(self, key: tuple[str, str, str, str], token: str, expires_in: float) -> None:
        # Renew a little early so a token never expires between our check and the request.
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 10, 5))


def parse_token_response(body: bytes, realm: str) -> tuple[str, float]:
    if len(body) > MAX_TOKEN_RESPONSE:
        raise LimitExceeded(f"token response from {realm} exceeds {MAX_TOKEN_RESPONSE} bytes", realm=realm)
    try:
        d = json.loads(body)
    except ValueError as exc:
        raise RegistryError(f"token server {realm} returned invalid JSON", realm=realm) from exc
    token = d.get("token") or d.get("access_token") if isinstance(d, dict) else None
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
        raise Unauthorized(f"token server {realm} returned no usable token", status=401, realm=realm)
    expires = d.get("expires_in")
    # The distribution spec says a missing or tiny expiry means 60 seconds.
    expires_in = float(expires) if isinstance(expires, (int, float)) and expires >= 60 else 60.0
    return token, expires_in
