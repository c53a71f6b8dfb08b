"""Pulling an image: manifest negotiation, platform choice, parallel verified layer downloads.

Each layer streams from the registry into a resumable content-store writer (hashed on the way)
and straight into the snapshotter as well, so downloads and unpacks of all layers overlap; a
layer is installed only once its parent is. The blob is committed only when its digest and size check out; the layer is
renamed in only after that. A pull killed at any moment leaves partial ingests (resumed with
Range next time) and temp folders (cleaned by the store), never a wrong blob or layer.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import BerthError, Conflict, IntegrityError, NotFound, RegistryError
from .client import RegistryClient
from .manifest import (
    ACCEPT,
    INDEX_TYPES,
    MAX_CONFIG,
    MAX_MANIFEST,
    Descriptor,
    Manifest,
    Platform,
    media_type_of,
    parse_index,
    parse_manifest,
    select_platform,
)

Progress = Callable[[dict[str, Any]], None]
DOWNLOAD_WORKERS = 5
READ_CHUNK = 1 << 20
RETRIES = 3
CONFLICT_WAIT = 600.0


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


@dataclass(frozen=True)
class Resolved:
    """What a reference resolved to on a registry."""

    digest: str                  # of what the reference names (an index or a manifest)
    manifest_digest: str         # of the image manifest chosen
    manifest_bytes: bytes
    manifest: Manifest
    index_bytes: bytes | None = None


def resolve(client: RegistryClient, repo: str, ref: str, platform: Platform, content: Any) -> Resolved:
    """Fetch the manifest for ``ref`` (an index is narrowed to ``platform``) and store it."""
    body, ctype, digest = client.get_manifest(repo, ref, ACCEPT, MAX_MANIFEST)
    mt = media_type_of(body, ctype)
    index_bytes = None
    manifest_digest = digest
    if mt in INDEX_TYPES:
        index_bytes = body
        chosen = select_platform(parse_index(body, mt), platform)
        body, ctype, manifest_digest = client.get_manifest(repo, chosen.digest, ACCEPT, MAX_MANIFEST)
        if manifest_digest != chosen.digest:
            raise IntegrityError(f"manifest {chosen.digest} did not match its digest", expected=chosen.digest)
        mt = media_type_of(body, ctype) or chosen.media_type
    manifest = parse_manifest(body, mt)
    return Resolved(digest, manifest_digest, body, manifest, index_bytes)


class _Stream:
    """A file object over a blob response that writes every byte to the blob writer."""

    def __init__(self, resp: Any, writer: Any, on_bytes: Callable[[int], None]) -> None:
        self._raw = resp.raw
        self._writer = writer
        self._on_bytes = on_bytes
        self._buf = b""
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            if n < 0 or n >= len(self._buf):
                out, self._buf = self._buf, b""
                return out
            out, self._buf = self._buf[:n], self._buf[n:]
            return out
        if self.eof:
            return b""
        want = READ_CHUNK if n < 0 or n > READ_CHUNK else max(n, 65536)
        data = self._raw.read(want, decode_content=False)
        if not data:
            self.eof = True
            return b""
        self._writer.write(data)
        self._on_bytes(len(data))
        if n < 0 or n >= len(data):
            return data
        self._buf = data[n:]
        return data[:n]

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read what the unpacker left (tar padding, the gzip trailer) so the digest covers all."""
        self._buf = b""
        while self.read(READ_CHUNK):
            self._buf = b""

    def readable(self) -> bool:
        return True


class LayerFetcher:
    """Downloads (and unpacks, when a snapshotter is given) the layers of one image."""

    def __init__(self, client: RegistryClient, repo: str, content: Any, snapshots: Any,
                 progress: Progress | None) -> None:
        self.client = client
        self.repo = repo
        self.content = content
        self.snapshots = snapshots
        self.progress = progress or (lambda _e: None)
        self._abort = threading.Event()
        self.downloaded = 0

    def run(self, layers: list[Descriptor], diff_ids: list[str]) -> None:
        chains = self.snapshots.chain_id(diff_ids) if self.snapshots is not None else [None] * len(layers)
        done = [threading.Event() for _ in layers]
        for d in layers:
            self.progress({"id": short(d.digest), "status": "Pulling fs layer"})
        with ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS, thread_name_prefix="pull") as pool:
            futures = []
            for i, d in enumerate(layers):
                parent = chains[i - 1] if i else None
                futures.append(pool.submit(self._layer, i, d, chains[i], parent, diff_ids[i],
                                           done[i - 1] if i else None, done[i]))
            errors: list[BaseException] = []
            for f in futures:
                try:
                    f.result()
                except BaseException as exc:  # noqa: BLE001 - the first error is re-raised below
                    self._abort.set()
                    errors.append(exc)
            if errors:
                first = next((e for e in errors if not isinstance(e, _Aborted)), errors[0])
                raise first

    # --- one layer ----------------------------------------------------------------------
    def _layer(self, i: int, d: Descriptor, chain: str | None, parent: str | None, diff_id: str,
               parent_done: threading.Event | None, done: threading.Event) -> None:
        sid = short(d.digest)
        snap = self.snapshots
        unpacked = snap is not None and snap.has_layer(chain)
        if unpacked and self.content.has(d.digest):
            self.progress({"id": sid, "status": "Already exists"})
            done.set()
            return
        streamed = False
        if not self.content.has(d.digest):
            streamed = self._download(d, sid, chain, parent, diff_id, parent_done, unpacked)
        if snap is not None and not streamed and not snap.has_layer(chain):
            self.progress({"id": sid, "status": "Extracting", "current": 0, "total": d.size})
            with self.content.open(d.digest) as f:
                snap.unpack(chain, parent, f, expected_diff_id=diff_id,
                            parent_ready=lambda: self._wait(parent_done))
        self.progress({"id": sid, "status": "Pull complete"})
        done.set()

    def _wait(self, event: threading.Event | None) -> None:
        if event is None:
            return
        while not event.wait(0.2):
            if self._abort.is_set():
                raise _Aborted()

    def _download(self, d: Descriptor, sid: str, chain: str | None, parent: str | None, diff_id: str,
                  parent_done: threading.Event | None, unpacked: bool) -> bool:
        """Fetch the blob, unpacking on the fly when the parent is ready; True if unpacked."""
        attempt = 0
        while True:
            if self._abort.is_set():
                raise _Aborted()
            try:
                writer = self._open_writer(d)
            except _AlreadyThere:
                return False
            if writer is None:
                return False
            resumed = writer.offset > 0
            try:
                return self._attempt(writer, d, sid, chain, parent, diff_id, parent_done, unpacked)
            except IntegrityError:
                writer.abort()
                # What an earlier, interrupted pull left may be what is wrong: start over once.
                if resumed and attempt + 1 < RETRIES:
                    attempt += 1
                    continue
                raise
            except (RegistryError, OSError, _TransferError) as exc:
                writer.close()   # keep what arrived: the next attempt resumes from there
                attempt += 1
                if attempt >= RETRIES or isinstance(exc, RegistryError) and exc.status in (401, 403, 404):
                    if isinstance(exc, _TransferError):
                        raise RegistryError(f"download of layer {d.digest} failed: {exc}",
                                            digest=d.digest) from exc
                    raise
                self.progress({"id": sid, "status": f"Retrying in {attempt} second{'s' * (attempt > 1)}"})
                time.sleep(attempt)
            except BaseException:
                writer.close()
                raise

    def _open_writer(self, d: Descriptor) -> Any:
        deadline = time.monotonic() + CONFLICT_WAIT
        while True:
            if self.content.has(d.digest):
                raise _AlreadyThere()
            try:
                return self.content.ingest(d.digest, expected=d.digest, size=d.size)
            except Conflict:
                # Another pull is fetching this blob: wait for it rather than fetch it twice.
                if time.monotonic() > deadline or self._abort.is_set():
                    raise
                time.sleep(0.25)

    def _attempt(self, writer: Any, d: Descriptor, sid: str, chain: str | None, parent: str | None,
                 diff_id: str, parent_done: threading.Event | None, unpacked: bool) -> bool:
        import requests

        offset = writer.offset
        if offset and offset == d.size:
            # Every byte arrived before an interruption: verify and publish, nothing to fetch.
            self.progress({"id": sid, "status": "Verifying Checksum"})
            writer.commit()
            self.progress({"id": sid, "status": "Download complete"})
            return False
        try:
            resp = self._open(d, offset)
        except RegistryError as exc:
            if not offset or exc.status != 416:
                raise
            writer.truncate()   # the registry refused the range: fetch the whole blob again
            offset = 0
            resp = self._open(d, 0)
        with resp:
            if offset and resp.status_code != 206:
                writer.truncate()   # the registry ignored Range: start over
            current = [writer.offset]
            last = [0.0]

            def on_bytes(n: int) -> None:
                current[0] += n
                self.downloaded += n
                now = time.monotonic()
                if now - last[0] > 0.1 or current[0] >= d.size:
                    last[0] = now
                    self.progress({"id": sid, "status": "Downloading", "current": current[0], "total": d.size})

            stream = _Stream(resp, writer, on_bytes)
            snap = self.snapshots
            # Unpack while downloading (from the start of the blob only); the snapshotter waits
            # for the parent layer just before it installs this one.
            live = snap is not None and not unpacked and writer.offset == 0
            try:
                if live:
                    def verify() -> None:
                        stream.drain()
                        writer.commit()
                    snap.unpack(chain, parent, stream, expected_diff_id=diff_id, verify=verify,
                                parent_ready=lambda: self._wait(parent_done))
                else:
                    stream.drain()
                    self.progress({"id": sid, "status": "Verifying Checksum"})
                    writer.commit()
                    self.progress({"id": sid, "status": "Download complete"})
            except (requests.RequestException, *_urllib3_errors()) as exc:  # type: ignore[misc]
                raise _TransferError(str(exc)[:200]) from exc
            except (BerthError, OSError) as exc:
                if not stream.eof and _is_transfer_error(exc):
                    raise _TransferError(str(exc)[:200]) from exc
                raise
        return live


    def _open(self, d: Descriptor, offset: int) -> Any:
        """The blob's response: a foreign layer from its own URLs first, then the registry."""
        if d.foreign and d.urls:
            for url in d.urls:
                resp = open_foreign(url, offset)
                if resp is not None:
                    return resp
        return self.client.get_blob(self.repo, d.digest, offset)


def open_foreign(url: str, offset: int) -> Any:
    """GET a foreign layer's URL with no credentials at all (they belong to the registry only).

    Returns None when that URL does not serve it, so the next one (or the registry) is tried.
    """
    import requests

    if not url.startswith(("https://", "http://")):
        return None
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    # A session of its own that ignores .netrc, so nothing but the environment's proxy applies.
    s = requests.Session()
    s.trust_env = False
    try:
        r = s.get(url, headers=headers, stream=True, timeout=(15, 120), allow_redirects=True,
                  proxies=requests.utils.get_environ_proxies(url))
    except requests.RequestException:
        return None
    if r.status_code not in (200, 206):
        r.close()
        return None
    return r


class _Aborted(Exception):
    pass


class _AlreadyThere(Exception):
    pass


class _TransferError(Exception):
    pass


def _urllib3_errors() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions as u

    return (u.HTTPError,)


def _is_transfer_error(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _urllib3_errors()):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def read_config(client: RegistryClient, repo: str, desc: Descriptor, content: Any) -> bytes:
    if desc.size > MAX_CONFIG:
        from ..errors import LimitExceeded
        raise LimitExceeded(f"image config {desc.digest} is {desc.size} bytes, more than {MAX_CONFIG}",
                            digest=desc.digest)
    try:
        return content.read(desc.digest, MAX_CONFIG) if content.has(desc.digest) else \
            _fetch_put(client, repo, desc, content)
    except NotFound:
        return _fetch_put(client, repo, desc, content)


def _fetch_put(client: RegistryClient, repo: str, desc: Descriptor, content: Any) -> bytes:
    data = client.read_blob(repo, desc.digest, MAX_CONFIG)
    content.put(data, expected=desc.digest)
    return data
