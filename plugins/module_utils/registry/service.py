"""RegistryService: pull, push, login and logout, as the engine offers them.

    engine.registry.pull("alpine:3.19", platform="linux/arm64", progress=print) -> ImageRecord
    engine.registry.push("localhost:5000/app:1") -> "sha256:..."
    engine.registry.login("localhost:5000", "user", "secret") -> "Login Succeeded"

Progress is reported as plain events (dicts shaped like Docker's JSON progress messages:
``id``, ``status``, ``current``, ``total``), so the CLI can draw bars and modules can ignore it.
"""
from __future__ import annotations

import threading
from typing import Any

from ..errors import BerthError, InvalidSpec, NotFound, RegistryError, Unauthorized
from ..fsutil import locked, read_json, write_json
from ..paths import Paths
from ..reference import Reference, parse
from ..types import Change, is_digest
from .auth import Credentials, CredentialStore, TokenCache, normalize_server
from .client import NotFoundRemote, RegistryClient, new_session
from .config import Endpoint, RegistryConfig
from .manifest import ACCEPT, Platform, parse_platform
from .pull import LayerFetcher, Progress, read_config, resolve

MAX_SOURCES = 8


class RegistryService:
    def __init__(self, paths: Paths, content: Any, images: Any, credentials: CredentialStore | None = None) -> None:
        self.paths = paths
        self.content = content
        self.images = images
        self.credentials = credentials or CredentialStore()
        self._session: Any = None
        self._tokens = TokenCache()
        self._clients: dict[tuple[str, str], RegistryClient] = {}
        self._lock = threading.Lock()
        self.chunk_size = 32 << 20       # blobs above this size are pushed in PATCH chunks

    # --- connections ---------------------------------------------------------------------
    @property
    def config(self) -> RegistryConfig:
        return RegistryConfig.load(self.paths)

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = new_session()
        return self._session

    def _client(self, ep: Endpoint, creds: Credentials | None = None) -> RegistryClient:
        key = (ep.url, ep.host)
        with self._lock:
            c = self._clients.get(key)
            if c is None or creds is not None:
                c = RegistryClient(ep, creds if creds is not None else self._creds_for(ep),
                                   self.session, self._tokens)
                if creds is None:
                    self._clients[key] = c
            return c

    def _creds_for(self, ep: Endpoint) -> Credentials:
        # A mirror is another party: the upstream's credentials are not its to see.
        host = ep.url.split("://", 1)[1] if ep.mirror else ep.host
        return self.credentials.get(host)

    def connect(self, host: str, creds: Credentials | None = None) -> RegistryClient:
        """A client for ``host`` itself (never a mirror), on the first endpoint that answers.

        An insecure host is tried over HTTPS (unverified) and then plain HTTP, as Docker does.
        """
        eps = [e for e in self.config.endpoints(host, self.paths) if not e.mirror]
        return self._first_reachable(eps, host, creds)

    def _first_reachable(self, eps: list[Endpoint], host: str, creds: Credentials | None = None) -> RegistryClient:
        last: BerthError | None = None
        for ep in eps:
            c = self._client(ep, creds)
            try:
                c.ping()
            except Unauthorized:
                raise
            except RegistryError as exc:
                if exc.status is None:   # unreachable or TLS failure: try the next endpoint
                    last = exc
                    continue
            return c
        raise last or RegistryError(f"cannot reach registry {host}", host=host)

    def _pull_sources(self, host: str) -> list[list[Endpoint]]:
        """Endpoint groups to pull from, in order: each mirror, then the registry itself."""
        eps = self.config.endpoints(host, self.paths)
        return [[e] for e in eps if e.mirror] + [[e for e in eps if not e.mirror]]

    # --- pull ------------------------------------------------------------------------------
    def pull(self, ref: str, platform: str | None = None, progress: Progress | None = None) -> Any:
        r = parse(ref)
        plat = parse_platform(platform)
        emit = progress or (lambda _e: None)
        before = self._local_id(r)
        if r.tag:
            emit({"id": r.tag, "status": f"Pulling from {r.path}"})
        elif r.digest:
            emit({"id": r.digest[7:19], "status": f"Pulling from {r.path}"})
        for group in self._pull_sources(r.domain):
            mirror = group[0].mirror
            try:
                c = self._first_reachable(group, r.domain)
                record, digest = self._pull_from(c, r, plat, emit)
                break
            except (RegistryError, NotFound) as exc:
                # A mirror that fails or lacks the image is skipped: the upstream has the last word.
                if not mirror:
                    raise self._pull_error(r, exc) from exc
        emit({"status": f"Digest: {digest}"})
        if before == record.id:
            emit({"status": f"Status: Image is up to date for {r.familiar}"})
        else:
            emit({"status": f"Status: Downloaded newer image for {r.familiar}"})
        emit({"status": str(r), "final": True})
        return record

    def _pull_error(self, r: Reference, exc: BerthError) -> BerthError:
        if isinstance(exc, Unauthorized):
            return Unauthorized(f"pull access denied for {r.familiar_name}, repository does not exist or "
                                f"may require 'berth login': {exc}", status=exc.status, reference=str(r))
        if isinstance(exc, NotFoundRemote):
            what = r.familiar if r.tag or r.digest else r.familiar_name
            return NotFoundRemote(f"manifest for {what} not found: {exc}", status=404, reference=str(r))
        return exc

    def _pull_from(self, c: RegistryClient, r: Reference, plat: Platform, emit: Progress) -> tuple[Any, str]:
        ref = r.digest or r.tag or "latest"
        res = resolve(c, r.path, ref, plat, self.content)
        # Store the index and the manifest first: they are small, and save/push need them.
        if res.index_bytes is not None:
            self.content.put(res.index_bytes, expected=res.digest)
        self.content.put(res.manifest_bytes, expected=res.manifest_digest)
        config_bytes = read_config(c, r.path, res.manifest.config, self.content)
        import json
        config = json.loads(config_bytes)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layers = list(res.manifest.layers)
        if len(diff_ids) != len(layers) or not all(is_digest(d) for d in diff_ids):
            raise RegistryError(f"image config {res.manifest.config.digest} lists {len(diff_ids)} diff_ids "
                                f"for {len(layers)} layers", digest=res.manifest.config.digest)
        snaps = getattr(self.images, "snapshots", None)
        fetcher = LayerFetcher(c, r.path, self.content, snaps, emit)
        fetcher.run(layers, diff_ids)
        names = [r.tagged] if r.tag else []
        names.append(f"{r.name}@{res.digest}")
        record = self._add_image(res, config_bytes, names)
        self._remember_sources(r, [d.digest for d in layers] + [res.manifest.config.digest])
        return record, res.digest

    def _add_image(self, res: Any, config_bytes: bytes, names: list[str]) -> Any:
        return self.images.add(res.manifest_bytes, config_bytes, names)

    def _local_id(self, r: Reference) -> str | None:
        try:
            return str(self.images.get(str(r)).id)
        except (NotFound, BerthError):
            return None

    # --- push ------------------------------------------------------------------------------
    def push(self, ref: str, progress: Progress | None = None) -> str:
        from .push import Pusher

        r = parse(ref)
        record = self.images.get(str(r))
        c = self.connect(r.domain)
        pusher = Pusher(c, r, self.content, progress or (lambda _e: None), self.chunk_size,
                        self._sources())
        digest = pusher.push(record)
        self._remember_sources(r, pusher.blob_digests)
        return digest

    def remote_digest(self, ref: str) -> str | None:
        """The digest a reference names on its registry now, or None when it has none."""
        r = parse(ref)
        c = self.connect(r.domain)
        try:
            return c.head_manifest(r.path, r.digest or r.tag or "latest", ACCEPT)
        except NotFoundRemote:
            return None

    # --- sources for cross-repository mounts --------------------------------------------------
    @property
    def _sources_file(self) -> Any:
        return self.paths.root / "registry" / "sources.json"

    def _sources(self) -> dict[str, list[str]]:
        data = read_json(self._sources_file, default={})
        return data if isinstance(data, dict) else {}

    def _remember_sources(self, r: Reference, digests: list[str]) -> None:
        """Record which repositories hold each blob, so a later push can mount it from there."""
        try:
            with locked(self.paths.lock("registry-sources")):
                data = self._sources()
                for d in digests:
                    repos = [x for x in data.get(d, []) if x != r.name]
                    data[d] = ([r.name] + repos)[:MAX_SOURCES]
                write_json(self._sources_file, data, durable=False)
        except OSError:
            pass   # only an optimisation for later pushes

    # --- credentials -----------------------------------------------------------------------
    def login(self, server: str | None, username: str, password: str,
              store: CredentialStore | None = None) -> str:
        host = normalize_server(server or "docker.io")
        if not username or not password:
            raise InvalidSpec("login needs a username and a password", field="username" if not username else "password")
        creds = Credentials(username, password)
        client = self.connect(host, creds=creds)
        try:
            client.ping(authenticate=True)
        except Unauthorized as exc:
            raise Unauthorized(f"login to {host} failed: {exc}", status=exc.status) from exc
        (store or self.credentials).store(host, creds)
        with self._lock:
            self._clients.clear()
        return "Login Succeeded"

    def logout(self, server: str | None, store: CredentialStore | None = None) -> str:
        host = normalize_server(server or "docker.io")
        if (store or self.credentials).erase(host):
            return f"Removing login credentials for {host}"
        return f"Not logged in to {host}"

    # --- idempotent entry points for modules ---------------------------------------------
    def ensure_pulled(self, ref: str, force: bool = False, platform: str | None = None,
                      apply: bool = True) -> Change:
        """Pull unless the image is present; with ``force``, pull when the registry has another."""
        r = parse(ref)
        before = self._inspect(str(r))
        if before is not None and not force:
            return Change.none(before)
        if before is not None:
            remote = self.remote_digest(str(r)) if not r.digest else r.digest
            local = [d.split("@", 1)[1] for d in before.get("RepoDigests", []) if "@" in d]
            if remote is not None and remote in local:
                return Change.none(before)
        if not apply:
            return Change(True, before, {"RepoTags": [r.familiar]}, (f"pull {r.familiar}",))
        self.pull(str(r), platform=platform)
        after = self._inspect(str(r))
        if before is not None and after is not None and before.get("Id") == after.get("Id"):
            return Change.none(after)
        return Change(True, before, after, (f"pull {r.familiar}",))

    def ensure_pushed(self, ref: str, apply: bool = True) -> Change:
        """Push unless the registry already has this exact manifest under ``ref``."""
        r = parse(ref)
        record = self.images.get(str(r))
        remote = self.remote_digest(str(r))
        if remote == record.manifest_digest:
            return Change.none({"name": r.familiar, "digest": remote})
        if not apply:
            return Change(True, {"name": r.familiar, "digest": remote},
                          {"name": r.familiar, "digest": record.manifest_digest}, (f"push {r.familiar}",))
        digest = self.push(str(r))
        return Change(True, {"name": r.familiar, "digest": remote}, {"name": r.familiar, "digest": digest},
                      (f"push {r.familiar}",))

    def ensure_login(self, server: str | None, username: str, password: str, reauthorize: bool = False,
                     config_path: str | None = None, apply: bool = True) -> Change:
        store = CredentialStore(config_path) if config_path else self.credentials
        host = normalize_server(server or "docker.io")
        current = store.get(host)
        before = {"registry": host, "username": current.username or None}
        after = {"registry": host, "username": username}
        if not reauthorize and current.username == username and current.password == password:
            return Change.none(before)
        if apply:
            self.login(host, username, password, store=store)
        return Change(True, before, after, (f"login {host}",))

    def ensure_logout(self, server: str | None, config_path: str | None = None, apply: bool = True) -> Change:
        store = CredentialStore(config_path) if config_path else self.credentials
        host = normalize_server(server or "docker.io")
        current = store.get(host)
        if current.empty:
            return Change.none({"registry": host, "username": None})
        if apply:
            store.erase(host)
        return Change(True, {"registry": host, "username": current.username or None},
                      {"registry": host, "username": None}, (f"logout {host}",))

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        try:
            return self.images.inspect(ref)
        except NotFound:
            return None

