"""Pushing an image: skip what the registry has, mount what it has elsewhere, upload the rest.

The manifest goes last, as the exact bytes stored locally, so the digest we report is the one
the registry computes. Foreign (non-distributable) layers are skipped, as Docker skips them:
they stay wherever their URLs point.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import RegistryError
from ..reference import Reference
from .client import RegistryClient
from .manifest import MAX_MANIFEST, Descriptor, media_type_of, parse_manifest
from .pull import short

Progress = Callable[[dict[str, Any]], None]
PUSH_WORKERS = 3
READ_CHUNK = 1 << 20


class _Reader:
    """A file object for requests that reports upload progress."""

    def __init__(self, f: Any, size: int, on_bytes: Callable[[int], None]) -> None:
        self._f = f
        self._size = size
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(READ_CHUNK if n is None or n < 0 else n)
        if data:
            self._on_bytes(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(READ_CHUNK):
            yield chunk


class Pusher:
    def __init__(self, client: RegistryClient, ref: Reference, content: Any, progress: Progress,
                 chunk_size: int, sources: dict[str, list[str]]) -> None:
        self.client = client
        self.ref = ref
        self.content = content
        self.progress = progress
        self.chunk_size = chunk_size
        self.sources = sources
        self.blob_digests: list[str] = []
        self._lock = threading.Lock()

    def push(self, record: Any) -> str:
        r = self.ref
        manifest_bytes = self.content.read(record.manifest_digest, MAX_MANIFEST)
        mt = media_type_of(manifest_bytes, None)
        manifest = parse_manifest(manifest_bytes, mt)
        self.progress({"status": f"The push refers to repository [{r.name}]"})
        # Authenticate for push with a small request first: streamed bodies cannot be replayed.
        self.client.has_blob(r.path, manifest.config.digest)
        blobs = [d for d in manifest.layers]
        for d in blobs:
            if not d.foreign:
                self.progress({"id": short(d.digest), "status": "Preparing"})
        with ThreadPoolExecutor(max_workers=PUSH_WORKERS, thread_name_prefix="push") as pool:
            futures = [pool.submit(self._blob, d) for d in blobs]
            for f in futures:
                f.result()
        self._blob(manifest.config, quiet=True)
        tag = r.tag or (None if r.digest else "latest")
        target = tag or record.manifest_digest
        digest = self.client.put_manifest(r.path, target, manifest_bytes, mt)
        if digest != record.manifest_digest:
            raise RegistryError(f"stored manifest of {r.familiar} does not match its digest "
                                f"{record.manifest_digest}", digest=digest)
        self.progress({"status": f"{tag or digest}: digest: {digest} size: {len(manifest_bytes)}", "final": True})
        return digest

    def _blob(self, d: Descriptor, quiet: bool = False) -> None:
        sid = short(d.digest)
        emit = (lambda _e: None) if quiet else self.progress
        if d.foreign:
            emit({"id": sid, "status": "Skipped foreign layer"})
            return
        repo = self.ref.path
        if self.client.has_blob(repo, d.digest):
            emit({"id": sid, "status": "Layer already exists"})
            self._done(d)
            return
        location = None
        for src in self.sources.get(d.digest, []):
            domain, _, path = src.partition("/")
            if domain != self.ref.domain or path == repo:
                continue
            try:
                location = self.client.mount_blob(repo, d.digest, path)
            except RegistryError:
                continue
            if location is None:
                emit({"id": sid, "status": f"Mounted from {path}"})
                self._done(d)
                return
            break   # the registry declined the mount but opened an upload: use it
        if location is None:
            location = self.client.start_upload(repo)
        size = self.content.size(d.digest)
        if size != d.size:
            raise RegistryError(f"local blob {d.digest} is {size} bytes, the manifest says {d.size}",
                                digest=d.digest)
        sent = [0]
        last = [0.0]

        def on_bytes(n: int) -> None:
            sent[0] += n
            now = time.monotonic()
            if now - last[0] > 0.1 or sent[0] >= size:
                last[0] = now
                emit({"id": sid, "status": "Pushing", "current": sent[0], "total": size})

        with self.content.open(d.digest) as f:
            if size > self.chunk_size:
                def chunks() -> Iterator[bytes]:
                    while data := f.read(self.chunk_size):
                        on_bytes(len(data))
                        yield data
                self.client.upload_chunked(repo, location, d.digest, chunks())
            else:
                self.client.upload_monolithic(repo, location, d.digest, size, _Reader(f, size, on_bytes))
        emit({"id": sid, "status": "Pushed"})
        self._done(d)

    def _done(self, d: Descriptor) -> None:
        with self._lock:
            self.blob_digests.append(d.digest)
