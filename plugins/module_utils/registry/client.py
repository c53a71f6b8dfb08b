"""The OCI distribution (v2) API over HTTP, for one registry endpoint.

``RegistryClient`` speaks to one base URL with one pooled ``requests`` session. It answers
401s with the challenge the registry names (Basic, or a Bearer token for the request's scope),
follows redirects itself so that credentials never follow a request to another origin, caps
what it reads from a registry, and turns HTTP failures into errors a user can act on.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from ..errors import LimitExceeded, NotFound, RegistryError, Unauthorized
from ..reference import check_tag
from ..types import check_digest, is_digest
from .auth import Challenge, Credentials, TokenCache, parse_challenges, parse_token_response
from .config import Endpoint, split_host_port

CONNECT_TIMEOUT = 15
READ_TIMEOUT = 120
MAX_REDIRECTS = 10
MAX_ERROR_BODY = 64 << 10
USER_AGENT = "berth/0.1 (+python-requests)"


def new_session(pool: int = 8) -> Any:
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # Skipping verification is a deliberate choice for registries marked insecure (and
    # loopback), as Docker makes it; a warning on every request would only be noise.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    s = requests.Session()
    # Registries close idle keep-alive connections: retry a request that died before any answer
    # (idempotent methods only; a body already streamed is never sent twice).
    retry = Retry(total=2, connect=2, read=1, status=0, other=0, redirect=0, backoff_factor=0.1,
                  allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False, raise_on_redirect=False)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=retry)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    return s


def origin(url: str) -> tuple[str, str, int]:
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return u.scheme, (u.hostname or "").lower(), port


def check_repo(repo: str) -> str:
    """Repository paths come from our own parsed references; refuse anything else in a URL."""
    from ..reference import _PATH_RE  # the distribution grammar, kept in one place

    if not isinstance(repo, str) or not _PATH_RE.match(repo):
        raise RegistryError(f"invalid repository name {repo!r}", field="repository", value=repo)
    return repo


def check_ref(ref: str) -> str:
    return check_digest(ref, "reference") if ref.startswith("sha256:") else check_tag(ref)


class RegistryClient:
    def __init__(self, endpoint: Endpoint, creds: Credentials | None = None, session: Any = None,
                 tokens: TokenCache | None = None) -> None:
        self.endpoint = endpoint
        self.creds = creds or Credentials()
        self.session = session or new_session()
        self.tokens = tokens or TokenCache()
        self._challenge: Challenge | None = None
        self._lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------
    @property
    def host_port(self) -> str:
        _, host, port = origin(self.endpoint.url)
        return f"{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.endpoint.url}/v2/{path}"

    def _may_send_credentials(self, url: str) -> bool:
        """Credentials go only to our endpoint's origin, and over plain HTTP only if insecure."""
        if origin(url) != origin(self.endpoint.url):
            return False
        return url.startswith("https://") or self.endpoint.insecure

    def _auth_header(self, scope: str | None, fresh: bool = False) -> str | None:
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            if self.creds.empty or not self.creds.username:
                return None
            import base64
            raw = f"{self.creds.username}:{self.creds.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if ch.scheme == "bearer":
            token = self._token(ch, scope, fresh)
            return f"Bearer {token}" if token else None
        return None

    def _token(self, ch: Challenge, scope: str | None, fresh: bool) -> str | None:
        realm = ch.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(f"registry {self.host_port} named an invalid token realm {realm!r}")
        service = ch.params.get("service", "")
        # The challenge's own scope only stands in when the request names none (e.g. /v2/).
        scopes = sorted(set((scope or ch.params.get("scope") or "").split()))
        user = self.creds.username or ("<token>" if self.creds.identity_token else "")
        key = (realm, service, " ".join(scopes), user)
        if not fresh:
            hit = self.tokens.get(key)
            if hit:
                return hit
        token, expires_in = self._fetch_token(realm, service, scopes)
        self.tokens.put(key, token, expires_in)
        return token

    def _fetch_token(self, realm: str, service: str, scopes: list[str]) -> tuple[str, float]:
        import requests

        # Credentials go to a plain-HTTP realm only when that realm's host is insecure too.
        realm_ok = realm.startswith("https://") or self.endpoint.insecure and \
            origin(realm)[1] == origin(self.endpoint.url)[1]
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        try:
            if self.creds.identity_token and realm_ok:
                form = {"grant_type": "refresh_token", "refresh_token": self.creds.identity_token,
                        "service": service, "client_id": "berth", "scope": " ".join(scopes)}
                r = self.session.post(realm, data=form, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                      verify=self.endpoint.verify, stream=True, allow_redirects=False)
            else:
                auth = (self.creds.username, self.creds.password) \
                    if realm_ok and self.creds.username else None
                r = self.session.get(realm, params=params, auth=auth, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                     verify=self.endpoint.verify, stream=True, allow_redirects=False)
        except requests.RequestException as exc:
            raise RegistryError(f"cannot reach token server {realm}: {exc}", realm=realm) from exc
        with r:
            body = _read_capped(r, 1 << 20, f"token from {realm}")
            if r.status_code in (401, 403):
                raise Unauthorized(f"unauthorized: incorrect username or password for {self.endpoint.host}"
                                   if self.creds.username else
                                   f"unauthorized: the token server {realm} refused anonymous access",
                                   status=r.status_code)
            if r.status_code == 429:
                raise _rate_limited(r, self.endpoint.host)
            if r.status_code != 200:
                raise RegistryError(f"token server {realm} answered {r.status_code}: {_error_text(body)}",
                                    status=r.status_code)
        return parse_token_response(body, realm)

    def request(self, method: str, path_or_url: str, scope: str | None = None, *,
                headers: dict[str, str] | None = None, data: Any = None, params: Any = None,
                stream: bool = False, ok: tuple[int, ...] = (200,), retry_auth: bool = True) -> Any:
        """Send a request with the right credentials, following redirects ourselves.

        Returns the response (status in ``ok``); raises a RegistryError otherwise.
        """
        import requests

        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        hdrs = dict(headers or {})
        auth = self._auth_header(scope) if self._may_send_credentials(url) else None
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(hdrs)
            if auth and self._may_send_credentials(url):
                send["Authorization"] = auth
            try:
                r = self.session.request(method, url, headers=send, data=data, params=params, stream=True,
                                         allow_redirects=False, verify=self.endpoint.verify,
                                         cert=self.endpoint.cert, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            except requests.exceptions.SSLError as exc:
                raise RegistryError(f"TLS error talking to {self.host_port}: {exc}", host=self.host_port) from exc
            except requests.RequestException as exc:
                raise RegistryError(f"cannot reach registry {self.host_port}: {_reason(exc)}",
                                    host=self.host_port) from exc
            if r.status_code in (301, 302, 303, 307, 308) and "Location" in r.headers:
                r.close()
                url = urljoin(url, r.headers["Location"])
                params = None
                if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                    method, data = "GET", None
                continue
            if r.status_code == 401:
                chs = [c for c in parse_challenges(r.headers.get("WWW-Authenticate", ""))
                       if c.scheme in ("bearer", "basic")]
                if chs:
                    with self._lock:
                        self._challenge = chs[0]
                # A streamed body cannot be sent twice: callers authenticate with a small request first.
                if chs and retry_auth and (data is None or isinstance(data, (bytes, str))):
                    new_auth = self._auth_header(scope, fresh=True) if self._may_send_credentials(url) else None
                    if new_auth and new_auth != auth:
                        r.close()
                        return self.request(method, url, scope, headers=headers, data=data, params=params,
                                            stream=stream, ok=ok, retry_auth=False)
                return self._fail(r, scope)
            if r.status_code not in ok:
                return self._fail(r, scope)
            if not stream:
                r.content  # noqa: B018 - read it now so the connection returns to the pool
            return r
        raise RegistryError(f"too many redirects from {self.host_port}", host=self.host_port)

    def _fail(self, r: Any, scope: str | None) -> Any:
        with r:
            try:
                body = _read_capped(r, MAX_ERROR_BODY, "error")
            except LimitExceeded:
                body = b""
        text = _error_text(body)
        code = _error_code(body)
        if r.status_code == 429:
            raise _rate_limited(r, self.endpoint.host)
        if r.status_code in (401, 403):
            raise Unauthorized(text or "unauthorized: authentication required", status=r.status_code,
                               code=code, scope=scope)
        if r.status_code == 404:
            raise NotFoundRemote(text or "not found", status=404, code=code)
        raise RegistryError(f"registry {self.host_port} answered {r.status_code}: {text or r.reason}",
                            status=r.status_code, code=code)

    # --- the API -----------------------------------------------------------------------------
    def ping(self, authenticate: bool = False) -> int:
        """GET /v2/ and remember how the registry wants us to authenticate.

        Without ``authenticate`` a 401 is an answer too (the registry is there); with it, the
        client's credentials must be accepted (what ``login`` checks).
        """
        try:
            r = self.request("GET", "", ok=(200,), retry_auth=authenticate)
        except Unauthorized as exc:
            if authenticate or self._challenge is None:
                raise
            return int(exc.status or 401)
        return int(r.status_code)

    def get_manifest(self, repo: str, ref: str, accept: str, limit: int) -> tuple[bytes, str, str]:
        """Fetch a manifest or index; returns (bytes, Content-Type, digest of the bytes)."""
        import hashlib

        check_repo(repo)
        check_ref(ref)
        r = self.request("GET", f"{repo}/manifests/{ref}", _scope(repo, "pull"),
                         headers={"Accept": accept}, stream=True)
        with r:
            body = _read_capped(r, limit, f"manifest {repo}:{ref}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if is_digest(ref) and digest != ref:
            from ..errors import IntegrityError
            raise IntegrityError(f"manifest verification failed for digest {ref}: the registry served {digest}",
                                 expected=ref, actual=digest)
        return body, r.headers.get("Content-Type", ""), digest

    def head_manifest(self, repo: str, ref: str, accept: str) -> str | None:
        check_repo(repo)
        check_ref(ref)
        try:
            r = self.request("HEAD", f"{repo}/manifests/{ref}", _scope(repo, "pull"),
                             headers={"Accept": accept})
        except NotFoundRemote:
            return None
        d = r.headers.get("Docker-Content-Digest", "")
        return d if is_digest(d) else None

    def get_blob(self, repo: str, digest: str, offset: int = 0) -> Any:
        """A streaming response for a blob, from ``offset`` when the registry honours Range.

        The caller checks ``status_code``: 206 resumed, 200 from the start.
        """
        check_repo(repo)
        check_digest(digest, "blob digest")
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        return self.request("GET", f"{repo}/blobs/{digest}", _scope(repo, "pull"), headers=headers,
                            stream=True, ok=(200, 206))

    def read_blob(self, repo: str, digest: str, limit: int) -> bytes:
        import hashlib

        from ..errors import IntegrityError

        r = self.get_blob(repo, digest)
        with r:
            body = _read_capped(r, limit, f"blob {digest}")
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        if actual != digest:
            raise IntegrityError(f"digest mismatch for blob {digest}: the registry served {actual}",
                                 expected=digest, actual=actual)
        return body

    def has_blob(self, repo: str, digest: str) -> bool:
        check_repo(repo)
        check_digest(digest, "blob digest")
        try:
            self.request("HEAD", f"{repo}/blobs/{digest}", _scope(repo, "pull", "push"))
        except NotFoundRemote:
            return False
        return True

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> str | None:
        """Try a cross-repository mount; returns None when mounted, else an upload URL."""
        check_repo(repo)
        check_repo(from_repo)
        check_digest(digest)
        scope = f"{_scope(repo, 'pull', 'push')} {_scope(from_repo, 'pull')}"
        r = self.request("POST", f"{repo}/blobs/uploads/", scope, params={"mount": digest, "from": from_repo},
                         data=b"", ok=(201, 202))
        if r.status_code == 201:
            return None
        return self._location(r)

    def start_upload(self, repo: str) -> str:
        check_repo(repo)
        r = self.request("POST", f"{repo}/blobs/uploads/", _scope(repo, "pull", "push"), data=b"",
                         headers={"Content-Length": "0"}, ok=(202,))
        return self._location(r)

    def _location(self, r: Any) -> str:
        loc = r.headers.get("Location")
        if not loc:
            raise RegistryError(f"registry {self.host_port} started an upload without a Location")
        return urljoin(r.url, loc)

    def upload_monolithic(self, repo: str, location: str, digest: str, size: int,
                          body: IO[bytes] | bytes | Any) -> None:
        self.request("PUT", location, _scope(repo, "pull", "push"), params={"digest": digest},
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                     data=body, ok=(201, 204))

    def upload_chunked(self, repo: str, location: str, digest: str, chunks: Iterator[bytes]) -> None:
        scope = _scope(repo, "pull", "push")
        offset = 0
        for chunk in chunks:
            end = offset + len(chunk) - 1
            r = self.request("PATCH", location, scope, data=chunk, ok=(202, 204),
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Range": f"{offset}-{end}", "Content-Length": str(len(chunk))})
            location = self._location(r)
            offset = end + 1
        self.request("PUT", location, scope, params={"digest": digest}, data=b"",
                     headers={"Content-Length": "0"}, ok=(201, 204))

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        import hashlib

        check_repo(repo)
        check_ref(ref)
        self.request("PUT", f"{repo}/manifests/{ref}", _scope(repo, "pull", "push"), data=body,
                     headers={"Content-Type": media_type}, ok=(200, 201, 202))
        return "sha256:" + hashlib.sha256(body).hexdigest()


class NotFoundRemote(RegistryError, NotFound):
    """The registry answered 404 (unknown repository, tag, manifest or blob)."""


def _scope(repo: str, *actions: str) -> str:
    return f"repository:{repo}:{','.join(actions)}"


def _read_capped(r: Any, limit: int, what: str) -> bytes:
    length = r.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise LimitExceeded(f"{what} is {length} bytes, more than the {limit} allowed", limit=limit)
    buf = bytearray()
    for chunk in r.iter_content(65536):
        buf += chunk
        if len(buf) > limit:
            raise LimitExceeded(f"{what} is larger than the {limit} bytes allowed", limit=limit)
    return bytes(buf)


def _errors(body: bytes) -> list[dict[str, Any]]:
    try:
        d = json.loads(body)
    except ValueError:
        return []
    errs = d.get("errors") if isinstance(d, dict) else None
    return [e for e in errs if isinstance(e, dict)] if isinstance(errs, list) else []


def _error_code(body: bytes) -> str | None:
    errs = _errors(body)
    return str(errs[0].get("code")) if errs and errs[0].get("code") else None


def _error_text(body: bytes) -> str:
    """Docker's rendering of a registry error: 'manifest unknown: manifest unknown'."""
    errs = _errors(body)
    if errs:
        parts = []
        for e in errs[:3]:
            code = str(e.get("code") or "").lower().replace("_", " ")
            msg = str(e.get("message") or "")[:300]
            parts.append(f"{code}: {msg}" if code else msg)
        return "; ".join(parts)
    return body[:200].decode("utf-8", "replace").strip()


def _rate_limited(r: Any, host: str) -> RegistryError:
    after = r.headers.get("Retry-After", "")
    hint = f"; retry after {after} seconds" if after.isdigit() else (f"; retry after {after}" if after else "")
    return RegistryError(f"toomanyrequests: {host} rate limit reached{hint}", status=429,
                         retry_after=after or None)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Temporary failure in name resolution", "Connection reset", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]


def host_port_of(host: str) -> str:
    name, port = split_host_port(host)
    return f"{name}:{port or 443}"
