"""Reading layer archives as a stream: decompression, hashing, and tar headers with limits.

A producer thread reads the (gzip | zstd | xz | bzip2 | plain) input, feeds an optional tee (the
blob writer), decompresses, hashes the uncompressed bytes (the diff_id) and queues chunks; the
caller parses tar entries from those chunks. zlib, zstd and hashlib release the GIL, so the
decompression runs beside the file writes of the extractor on another core.
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from ..errors import InvalidSpec, LimitExceeded

IN_CHUNK = 1 << 20
OUT_CHUNK = 4 << 20
BLOCK = 512


@dataclass(frozen=True)
class Limits:
    """Caps on what a hostile archive can make us read or create."""

    max_bytes: int = 64 << 30          # uncompressed bytes of one layer
    max_entries: int = 2_000_000       # tar entries in one layer
    max_header: int = 1 << 20          # one PAX or GNU long-name header
    max_path: int = 4096               # bytes in an entry's path
    max_manifest: int = 4 << 20        # manifest / index JSON
    max_config: int = 8 << 20          # image config JSON


DEFAULT_LIMITS = Limits()


class Sink(Protocol):
    def write(self, data: bytes) -> Any: ...


# --- decompression ------------------------------------------------------------------------

def compression_of(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"BZh"):
        return "bzip2"
    return "none"


class _Source:
    """The input with its first chunk pushed back, tee-ing every byte read to ``tee``."""

    def __init__(self, f: BinaryIO, tee: Sink | None) -> None:
        self._f = f
        self._tee = tee
        self._head = b""
        self.compressed = 0

    def peek(self) -> bytes:
        if not self._head:
            self._head = self._raw(IN_CHUNK)
        return self._head

    def _raw(self, n: int) -> bytes:
        data = self._f.read(n)
        if data:
            self.compressed += len(data)
            if self._tee is not None:
                self._tee.write(data)
        return data or b""

    def read(self, n: int = IN_CHUNK) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._raw(n if n and n > 0 else IN_CHUNK)

    def drain(self) -> None:
        while self.read(IN_CHUNK):
            pass


def _stream_decoder(src: _Source, kind: str) -> Iterator[bytes]:
    if kind == "none":
        while data := src.read(IN_CHUNK):
            yield data
        return
    if kind == "zstd":
        import zstandard
        reader = zstandard.ZstdDecompressor().stream_reader(src, read_size=IN_CHUNK,
                                                            read_across_frames=True, closefd=False)
        try:
            while data := reader.read(OUT_CHUNK):
                yield data
        except zstandard.ZstdError as exc:
            raise InvalidSpec(f"layer is not valid zstd data: {exc}", field="layer") from exc
        return
    if kind == "gzip":
        new = lambda: zlib.decompressobj(31)  # noqa: E731 - one gzip member each
        errors: tuple[type[Exception], ...] = (zlib.error,)
    elif kind == "xz":
        import lzma
        new = lzma.LZMADecompressor
        errors = (lzma.LZMAError,)
    else:
        import bz2
        new = bz2.BZ2Decompressor
        errors = (OSError, ValueError)
    d = new()
    try:
        while True:
            data = src.read(IN_CHUNK)
            if not data:
                break
            while data:
                if kind == "gzip":
                    out = d.decompress(data, OUT_CHUNK)
                    rest = d.unconsumed_tail
                    if out:
                        yield out
                    if d.eof:
                        data = d.unused_data
                        # Another gzip member may follow; trailing zero padding is ignored.
                        if data.strip(b"\0"):
                            d = new()
                        else:
                            data = b""
                    else:
                        data = rest
                else:
                    out = d.decompress(data, OUT_CHUNK)
                    data = b""
                    if out:
                        yield out
                    while not d.eof and not d.needs_input:
                        out = d.decompress(b"", OUT_CHUNK)
                        if not out:
                            break
                        yield out
                    if d.eof:
                        data = d.unused_data if d.unused_data.strip(b"\0") else b""
                        if data:
                            d = new()
        if kind == "gzip":
            tail = d.flush()
            if tail:
                yield tail
    except errors as exc:
        raise InvalidSpec(f"layer is not valid {kind} data: {exc}", field="layer") from exc
    if not d.eof:
        raise InvalidSpec(f"layer is truncated: the {kind} stream ends early", field="layer")


class DecompressedStream:
    """Uncompressed bytes of a layer, produced by a thread, hashed on the way (``diff_id``)."""

    def __init__(self, f: BinaryIO, tee: Sink | None = None, limits: Limits = DEFAULT_LIMITS,
                 threaded: bool = True) -> None:
        self.limits = limits
        self._src = _Source(f, tee)
        self._hash = hashlib.sha256()
        self.total = 0
        self.compression = "none"
        self._q: queue.Queue[Any] = queue.Queue(maxsize=12)
        self._stop = threading.Event()
        self._done = False
        self._diff_id: str | None = None
        self._iter: Iterator[bytes] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._produce, name="berth-unpack", daemon=True)
            self._thread.start()
        else:
            self._iter = self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        self.compression = compression_of(self._src.peek())
        for data in _stream_decoder(self._src, self.compression):
            self.total += len(data)
            if self.total > self.limits.max_bytes:
                raise LimitExceeded(
                    f"layer expands to more than {self.limits.max_bytes} bytes (limit max_bytes)",
                    limit="max_bytes", value=self.limits.max_bytes)
            self._hash.update(data)
            yield data
        self._src.drain()   # the tee must see every byte, even after the end of the stream

    def _produce(self) -> None:
        try:
            for data in self._chunks():
                while not self._stop.is_set():
                    try:
                        self._q.put(data, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._put_final(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put_final(exc)

    def _put_final(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(("end", item), timeout=0.2)
                return
            except queue.Full:
                continue

    def next_chunk(self) -> bytes | None:
        """The next chunk of uncompressed data, or None at the end of the stream."""
        if self._done:
            return None
        if self._iter is not None:
            data = next(self._iter, None)
            if data is None:
                self._finish()
            return data
        item = self._q.get()
        if isinstance(item, tuple):
            exc = item[1]
            self._done = True
            if exc is not None:
                raise exc
            self._finish()
            return None
        return item

    def _finish(self) -> None:
        self._done = True
        self._diff_id = "sha256:" + self._hash.hexdigest()

    @property
    def compressed_size(self) -> int:
        return self._src.compressed

    def diff_id(self) -> str:
        """Read whatever is left (trailing padding counts in the digest), then the digest."""
        while self.next_chunk() is not None:
            pass
        assert self._diff_id is not None
        return self._diff_id

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # Unblock a producer waiting on a full queue, then let it notice the stop flag.
            while self._thread.is_alive():
                try:
                    self._q.get(timeout=0.05)
                except queue.Empty:
                    pass
            self._thread.join()


# --- tar entries ---------------------------------------------------------------------------

REG, HARD, SYM, CHR, BLK, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"


@dataclass
class Entry:
    path: bytes
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None


def _num(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU) for big or negative numbers
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 1 << (8 * (len(field) - 1))
        elif field[0] != 0x80:
            value |= (field[0] & 0x7F) << (8 * (len(field) - 1))
        return value
    s = field.split(b"\0", 1)[0].strip(b" ")
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise InvalidSpec(f"invalid tar header: bad {what} field {field!r}", field=what) from None


def _parse_pax(data: bytes, limits: Limits) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos, pos + 21)
        if sp < 0:
            raise InvalidSpec("invalid PAX header: record without a length", field="pax")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise InvalidSpec("invalid PAX header: bad record length", field="pax") from None
        end = pos + length
        if length <= sp - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise InvalidSpec("invalid PAX header: record overruns the header", field="pax")
        record = data[sp + 1:end - 1]
        key, eq, value = record.partition(b"=")
        if not eq:
            raise InvalidSpec("invalid PAX header: record without '='", field="pax")
        out[key] = value
        pos = end
    return out


class TarReader:
    """Tar entries from a DecompressedStream, data copied straight to file descriptors."""

    def __init__(self, stream: DecompressedStream) -> None:
        self.stream = stream
        self.limits = stream.limits
        self._buf = b""
        self._pos = 0
        self.entries = 0
        self._pending = 0   # data + padding of the current entry not yet consumed

    # -- raw access --
    def _fill(self) -> bool:
        chunk = self.stream.next_chunk()
        if chunk is None:
            return False
        self._buf = chunk
        self._pos = 0
        return True

    def _read(self, n: int) -> bytes:
        buf, pos = self._buf, self._pos
        if len(buf) - pos >= n:
            self._pos = pos + n
            return buf[pos:pos + n]
        parts = [buf[pos:]]
        got = len(buf) - pos
        self._buf, self._pos = b"", 0
        while got < n:
            if not self._fill():
                raise InvalidSpec("layer is truncated: the tar stream ends inside an entry", field="layer")
            take = min(n - got, len(self._buf))
            parts.append(self._buf[:take])
            self._pos = take
            got += take
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n > 0:
            avail = len(self._buf) - self._pos
            if avail == 0:
                if not self._fill():
                    raise InvalidSpec("layer is truncated: the tar stream ends inside an entry",
                                      field="layer")
                continue
            m = min(avail, n)
            self._pos += m
            n -= m

    def copy_to(self, fd: int, n: int) -> None:
        """Write the current entry's ``n`` data bytes to ``fd``, then skip its padding."""
        pad = (-n) % BLOCK
        while n > 0:
            avail = len(self._buf) - self._pos
            if avail == 0:
                if not self._fill():
                    raise InvalidSpec("layer is truncated: a file's data ends early", field="layer")
                continue
            m = min(avail, n)
            view = memoryview(self._buf)[self._pos:self._pos + m]
            while view:
                done = os.write(fd, view)
                view = view[done:]
            self._pos += m
            n -= m
        self._skip(pad)
        self._pending = 0

    def skip_data(self) -> None:
        self._skip(self._pending)
        self._pending = 0

    # -- entries --
    def __iter__(self) -> Iterator[Entry]:
        pax: dict[bytes, bytes] = {}
        longname: bytes | None = None
        longlink: bytes | None = None
        limits = self.limits
        while True:
            if self._pending:
                self.skip_data()
            if len(self._buf) - self._pos < BLOCK and not (self._buf[self._pos:] or self._fill()):
                return  # no end-of-archive blocks: accepted, as GNU tar does
            block = self._read(BLOCK)
            if block.count(0) == BLOCK:
                return
            self._check_sum(block)
            typ = chr(block[156]) if block[156] else REG
            size = _num(block[124:136], "size")
            if size < 0:
                raise InvalidSpec(f"invalid tar header: negative size {size}", field="size")
            if typ in ("x", "g", "L", "K"):
                if size > limits.max_header:
                    raise LimitExceeded(f"tar header of {size} bytes is larger than the limit of "
                                        f"{limits.max_header} (limit max_header)", limit="max_header")
                data = self._read(size)
                self._skip((-size) % BLOCK)
                if typ == "x":
                    pax.update(_parse_pax(data, limits))
                elif typ == "g":
                    if any(k.startswith(b"GNU.sparse") for k in _parse_pax(data, limits)):
                        raise InvalidSpec("sparse files in layers are not supported", field="layer")
                elif typ == "L":
                    longname = data.split(b"\0", 1)[0]
                else:
                    longlink = data.split(b"\0", 1)[0]
                continue
            self.entries += 1
            if self.entries > limits.max_entries:
                raise LimitExceeded(f"layer has more than {limits.max_entries} entries (limit max_entries)",
                                    limit="max_entries")
            magic = block[257:265]
            name = block[0:100].split(b"\0", 1)[0]
            if magic[:6] == b"ustar\0":
                prefix = block[345:500].split(b"\0", 1)[0]
                if prefix:
                    name = prefix + b"/" + name
            linkname = block[157:257].split(b"\0", 1)[0]
            if longname is not None:
                name, longname = longname, None
            if longlink is not None:
                linkname, longlink = longlink, None
            if typ == "7":
                typ = REG
            if typ not in (REG, HARD, SYM, CHR, BLK, DIR, FIFO):
                if typ == "S":
                    raise InvalidSpec("sparse files in layers are not supported", field="layer")
                raise InvalidSpec(f"unsupported tar entry type {typ!r} for {name!r}", field="type")
            mtime_ns = _num(block[136:148], "mtime") * 1_000_000_000
            e = Entry(name, typ, _num(block[100:108], "mode") & 0o7777, _num(block[108:116], "uid"),
                      _num(block[116:124], "gid"), size, mtime_ns, linkname)
            if typ in (CHR, BLK):
                e.devmajor = _num(block[329:337], "devmajor")
                e.devminor = _num(block[337:345], "devminor")
            if pax:
                self._apply_pax(e, pax)
                pax = {}
            if e.type != REG:
                e.size = 0   # header-only types carry no data, whatever the size field says
            if len(e.path) > limits.max_path or len(e.linkname) > limits.max_path:
                raise LimitExceeded(f"entry path is longer than {limits.max_path} bytes (limit max_path)",
                                    limit="max_path", path=e.path[:200].decode(errors="replace"))
            self._pending = e.size + ((-e.size) % BLOCK)
            yield e

    @staticmethod
    def _check_sum(block: bytes) -> None:
        want = _num(block[148:156], "chksum")
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if want != unsigned:
            signed = sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])
            if want != signed:
                raise InvalidSpec("invalid tar header checksum: this is not a tar archive, or it is damaged",
                                  field="layer")

    @staticmethod
    def _apply_pax(e: Entry, pax: dict[bytes, bytes]) -> None:
        for key, value in pax.items():
            if key == b"path":
                e.path = value
            elif key == b"linkpath":
                e.linkname = value
            elif key == b"size":
                e.size = _pax_int(value, "size")
            elif key == b"uid":
                e.uid = _pax_int(value, "uid")
            elif key == b"gid":
                e.gid = _pax_int(value, "gid")
            elif key == b"mtime":
                e.mtime_ns = _pax_time(value)
            elif key.startswith(b"SCHILY.xattr."):
                if e.xattrs is None:
                    e.xattrs = {}
                e.xattrs[key[13:].decode("utf-8", "surrogateescape")] = value
            elif key.startswith(b"LIBARCHIVE.xattr."):
                import base64
                import urllib.parse
                if e.xattrs is None:
                    e.xattrs = {}
                name = urllib.parse.unquote(key[17:].decode("utf-8", "surrogateescape"))
                try:
                    e.xattrs[name] = base64.b64decode(value + b"=" * (-len(value) % 4))
                except ValueError:
                    raise InvalidSpec(f"invalid PAX xattr value for {name!r}", field="xattr") from None
            elif key.startswith(b"GNU.sparse"):
                raise InvalidSpec("sparse files in layers are not supported", field="layer")


def _pax_int(value: bytes, what: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise InvalidSpec(f"invalid PAX header: bad {what} {value!r}", field=what) from None
    if n < 0:
        raise InvalidSpec(f"invalid PAX header: negative {what}", field=what)
    return n


def _pax_time(value: bytes) -> int:
    try:
        sec, _, frac = value.partition(b".")
        ns = int(sec) * 1_000_000_000
        if frac:
            f = int((frac + b"000000000")[:9])
            ns = ns - f if sec.startswith(b"-") else ns + f
        return ns
    except ValueError:
        raise InvalidSpec(f"invalid PAX header: bad mtime {value!r}", field="mtime") from None

