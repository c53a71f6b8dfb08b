"""Blobs addressed by their sha256 digest: manifests, configs and layer archives.

A blob becomes visible under ``blobs/sha256/<hex>`` only by a rename of a file whose content was
hashed and counted on its way in, so a reader never sees a wrong or partial blob. Partial writes
live under ``ingest/<key>/`` where an interrupted download can resume (``Writer.offset``); the
registry client resumes with an HTTP Range request from there.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import Conflict, IntegrityError, LimitExceeded, NotFound
from ..fsutil import ensure_dir, fsync_dir
from ..paths import Paths
from ..types import check_digest

# Ingests untouched for this long are abandoned downloads; temp files from put() older than
# STALE_TEMP crashed mid-write. Both are removed by the next store operation that writes.
STALE_INGEST = 24 * 3600
STALE_TEMP = 600
CHUNK = 1 << 20


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Writer:
    """A resumable, verified write of one blob. Use ``offset`` to resume, ``commit`` to publish."""

    def __init__(self, store: ContentStore, key: str, folder: Path, expected: str | None,
                 size: int | None) -> None:
        self._store = store
        self.key = key
        self.expected = expected
        self.size = size
        self._folder = folder
        self._closed = False
        self._hash = hashlib.sha256()
        data_path = folder / "data"
        self._fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise Conflict(f"another process is writing blob {expected or key}", key=key) from None
        # Resume: hash what an earlier, interrupted writer left behind.
        self.offset = 0
        while True:
            chunk = os.read(self._fd, CHUNK)
            if not chunk:
                break
            self._hash.update(chunk)
            self.offset += len(chunk)
        if size is not None and self.offset > size:
            self.truncate()

    @property
    def digest(self) -> str:
        """Digest of what was written so far."""
        return "sha256:" + self._hash.hexdigest()

    def truncate(self) -> None:
        """Start over (the resumed part was wrong, or the server ignored the Range request)."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hash = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed blob writer")
        n = len(data)
        if self.size is not None and self.offset + n > self.size:
            raise IntegrityError(
                f"blob {self.expected or self.key} is larger than its declared size {self.size}",
                digest=self.expected, size=self.size)
        view = memoryview(data)
        while view:
            done = os.write(self._fd, view)
            view = view[done:]
        self._hash.update(data)
        self.offset += n
        return n

    def commit(self) -> str:
        """Verify size and digest, then publish the blob; returns its digest."""
        if self._closed:
            raise ValueError("commit of a closed blob writer")
        digest = self.digest
        try:
            if self.size is not None and self.offset != self.size:
                raise IntegrityError(
                    f"blob {self.expected or digest} is {self.offset} bytes, expected {self.size}",
                    digest=self.expected, size=self.offset, expected_size=self.size)
            if self.expected is not None and digest != self.expected:
                raise IntegrityError(f"digest mismatch: expected {self.expected}, got {digest}",
                                     expected=self.expected, digest=digest)
            os.fsync(self._fd)
            self._store._publish(self._folder / "data", digest)
        except BaseException:
            self.abort()
            raise
        self._close()
        fsutil_remove(self._folder)
        return digest

    def abort(self) -> None:
        """Throw the partial data away (a mismatch must not be resumed)."""
        if self._closed:
            return
        self._close()
        fsutil_remove(self._folder)

    def close(self) -> None:
        """Stop writing but keep the partial data for a later resume."""
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            # An interrupted download keeps its data so it can resume; a wrong one does not.
            if isinstance(exc, IntegrityError):
                self.abort()
            else:
                self.close()
        elif not self._closed:
            self.close()


def fsutil_remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class ContentStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._cleaned = False

    # --- reading ------------------------------------------------------------------------
    def path(self, digest: str) -> Path:
        p = self._blob_path(digest)
        if not p.exists():
            raise NotFound(f"blob {digest} not found in the content store", digest=digest)
        return p

    def has(self, digest: str) -> bool:
        return self._blob_path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store", digest=digest) from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store", digest=digest) from None

    def read(self, digest: str, limit: int | None = None) -> bytes:
        with self.open(digest) as f:
            if limit is not None:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    raise LimitExceeded(f"blob {digest} is {size} bytes, more than the limit of {limit}",
                                        digest=digest, size=size, limit=limit)
            return f.read()

    def list(self) -> Iterator[tuple[str, int]]:
        try:
            entries = os.scandir(self.paths.blobs)
        except FileNotFoundError:
            return
        with entries:
            for e in entries:
                if len(e.name) == 64 and not e.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        yield "sha256:" + e.name, e.stat(follow_symlinks=False).st_size

    # --- writing ------------------------------------------------------------------------
    def put(self, data: bytes, expected: str | None = None) -> str:
        digest = sha256_digest(data)
        if expected is not None and check_digest(expected) != digest:
            raise IntegrityError(f"digest mismatch: expected {expected}, got {digest}",
                                 expected=expected, digest=digest)
        if self.has(digest):
            return digest
        self._cleanup_once()
        blobs = ensure_dir(self.paths.blobs, 0o755)
        fd, tmp = tempfile.mkstemp(prefix=".put-", dir=blobs)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._publish(Path(tmp), digest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return digest

    def put_file(self, src: str | os.PathLike[str], expected: str | None = None) -> str:
        """Move a finished file in (hashing it first): for blobs made on the store's filesystem."""
        h = hashlib.sha256()
        with open(src, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
            os.fsync(f.fileno())
        digest = "sha256:" + h.hexdigest()
        if expected is not None and check_digest(expected) != digest:
            raise IntegrityError(f"digest mismatch: expected {expected}, got {digest}",
                                 expected=expected, digest=digest)
        self._publish(Path(src), digest)
        return digest

    def ingest(self, key: str, expected: str | None = None, size: int | None = None) -> Writer:
        """Start or resume writing a blob. ``key`` names the download (e.g. the digest)."""
        if expected is not None:
            check_digest(expected)
        if size is not None and size < 0:
            raise IntegrityError(f"invalid blob size {size}", size=size)
        self._cleanup_once()
        # The key may come from a registry: hash it into a safe folder name.
        folder = ensure_dir(self.paths.ingest, 0o700) / hashlib.sha256(key.encode()).hexdigest()[:32]
        folder.mkdir(exist_ok=True)
        os.utime(folder)
        return Writer(self, key, folder, expected, size)

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._blob_path(digest))

    # --- internals ----------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        check_digest(digest)
        return self.paths.blobs / digest[7:]

    def _publish(self, src: Path, digest: str) -> None:
        blobs = ensure_dir(self.paths.blobs, 0o755)
        target = blobs / digest[7:]
        os.chmod(src, 0o444)
        os.replace(src, target)
        fsync_dir(blobs)

    def _cleanup_once(self) -> None:
        """Remove what crashed writers left: cheap (one listing each), once per process."""
        if self._cleaned:
            return
        self._cleaned = True
        now = time.time()
        with contextlib.suppress(FileNotFoundError), os.scandir(self.paths.blobs) as it:
            for e in it:
                if e.name.startswith(".put-"):
                    with contextlib.suppress(OSError):
                        if now - e.stat(follow_symlinks=False).st_mtime > STALE_TEMP:
                            os.unlink(e.path)
        with contextlib.suppress(FileNotFoundError), os.scandir(self.paths.ingest) as it:
            for e in it:
                with contextlib.suppress(OSError):
                    if now - e.stat(follow_symlinks=False).st_mtime > STALE_INGEST and not _busy(e.path):
                        fsutil_remove(Path(e.path))


def _busy(folder: str) -> bool:
    try:
        fd = os.open(os.path.join(folder, "data"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return exc.errno != errno.ENOENT
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
