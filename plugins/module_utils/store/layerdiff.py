"""From an overlay upper folder back to a layer: the tar (for commit and builds) and A/C/D changes.

The tar is deterministic, so the same content gives the same diff_id: entries sorted by name,
PAX where ustar cannot hold a value, empty user and group names, whole-second times. Overlay
whiteouts (0/0 character devices) become ``.wh.<name>`` files and opaque folders get a
``.wh..wh..opq`` entry, as the OCI image spec describes. The walk opens every entry relative to
its folder's descriptor without following links, so a container that changes its files during a
commit cannot make us read outside its upper folder.
"""
from __future__ import annotations

import hashlib
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from .layers import OPAQUE, WHITEOUT_PREFIX, is_opaque, is_whiteout, keep_xattr
from .tarstream import Sink

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FLUSH = 1 << 20
MEDIA_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class LayerWritten:
    diff_id: str
    digest: str        # of the bytes written (equal to diff_id when uncompressed)
    size: int          # bytes written
    media_type: str
    data_size: int     # bytes of regular file data


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits(value: int, width: int) -> bool:
    return 0 <= value < 8 ** (width - 1)


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n = len(str(n).encode()) + len(body)
    return str(n).encode() + body


def tar_header(name: bytes, typ: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
               linkname: bytes = b"", devmajor: int = 0, devminor: int = 0,
               xattrs: list[tuple[str, bytes]] | None = None) -> bytes:
    """One entry's header blocks (a PAX header first when needed)."""
    pax: list[tuple[bytes, bytes]] = []
    if len(name) > 100 or not name.isascii():
        pax.append((b"path", name))
    if len(linkname) > 100 or not linkname.isascii():
        pax.append((b"linkpath", linkname))
    if not _fits(size, 12):
        pax.append((b"size", str(size).encode()))
    if not _fits(uid, 8):
        pax.append((b"uid", str(uid).encode()))
    if not _fits(gid, 8):
        pax.append((b"gid", str(gid).encode()))
    if not _fits(mtime, 12):
        pax.append((b"mtime", str(mtime).encode()))
    for k, v in xattrs or ():
        pax.append((b"SCHILY.xattr." + k.encode("utf-8", "surrogateescape"), v))
    out = b""
    if pax:
        data = b"".join(_pax_record(k, v) for k, v in sorted(pax))
        out = _block(b"PaxHeaders/" + name[-80:].lstrip(b"/"), b"x", 0o644, 0, 0, len(data), 0, b"", 0, 0)
        out += data + b"\0" * ((-len(data)) % 512)
    return out + _block(name[:100], typ, mode, uid, gid, size, mtime, linkname[:100], devmajor, devminor)


def _block(name: bytes, typ: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
           linkname: bytes, devmajor: int, devminor: int) -> bytes:
    def num(v: int, w: int) -> bytes:
        return _octal(v, w) if _fits(v, w) else _octal(0, w)

    h = (name.ljust(100, b"\0") + num(mode, 8) + num(uid, 8) + num(gid, 8) + num(size, 12)
         + num(mtime, 12) + b" " * 8 + typ + linkname.ljust(100, b"\0") + b"ustar\x0000"
         + b"\0" * 64 + num(devmajor, 8) + num(devminor, 8) + b"\0" * 155 + b"\0" * 12)
    chk = b"%06o\0 " % sum(h)
    return h[:148] + chk + h[156:]


class _Out:
    """Buffers the tar, hashes it (diff_id), optionally gzips it, and writes to the sink."""

    def __init__(self, sink: Sink, compress: str | None) -> None:
        self.sink = sink
        self.buf = bytearray()
        self.tar_hash = hashlib.sha256()
        self.out_hash = hashlib.sha256()
        self.written = 0
        self.z = zlib.compressobj(6, zlib.DEFLATED, 31) if compress == "gzip" else None

    def add(self, data: bytes | memoryview) -> None:
        self.buf += data
        if len(self.buf) >= _FLUSH:
            self.flush()

    def flush(self, final: bool = False) -> None:
        data = bytes(self.buf)
        self.buf.clear()
        self.tar_hash.update(data)
        if self.z is not None:
            data = self.z.compress(data) + (self.z.flush() if final else b"")
        if data:
            self.out_hash.update(data)
            self.sink.write(data)
            self.written += len(data)


def write_layer(src: str | os.PathLike[str], sink: Sink, compress: str | None = None) -> LayerWritten:
    """Write the folder ``src`` (an overlay upper folder or a layer's fs/) as a layer tar."""
    out = _Out(sink, compress)
    fd = os.open(src, _DIR_FLAGS)
    data_size = 0
    links: dict[tuple[int, int], bytes] = {}
    try:
        data_size = _walk(fd, b"", out, links)
    finally:
        os.close(fd)
    out.add(b"\0" * 1024)
    out.flush(final=True)
    diff_id = "sha256:" + out.tar_hash.hexdigest()
    digest = "sha256:" + out.out_hash.hexdigest() if compress else diff_id
    return LayerWritten(diff_id, digest, out.written, MEDIA_TAR_GZIP if compress else MEDIA_TAR, data_size)


def _xattrs(fd: int) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(fd)
    except OSError:
        return []
    out = []
    for k in sorted(names):
        if keep_xattr(k):
            try:
                out.append((k, os.getxattr(fd, k)))
            except OSError:
                continue
    return out


def _walk(dfd: int, prefix: bytes, out: _Out, links: dict[tuple[int, int], bytes]) -> int:
    total = 0
    names = sorted(os.fsencode(n) for n in os.listdir(dfd))
    for name in names:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we walked (a running container)
        rel = prefix + name
        mode = stat.S_IMODE(st.st_mode)
        mtime = int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            try:
                cfd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                out.add(tar_header(rel + b"/", b"5", mode, st.st_uid, st.st_gid, 0, mtime,
                                   xattrs=_xattrs(cfd)))
                if is_opaque(cfd):
                    out.add(tar_header(rel + b"/" + OPAQUE, b"0", mode, st.st_uid, st.st_gid, 0, mtime))
                total += _walk(cfd, rel + b"/", out, links)
            finally:
                os.close(cfd)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                out.add(tar_header(rel, b"1", mode, st.st_uid, st.st_gid, 0, mtime, linkname=links[key]))
                continue
            if st.st_nlink > 1:
                links[key] = rel
            try:
                # O_NONBLOCK: a running container may swap the file for a fifo under us
                ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
            except OSError:
                continue
            try:
                if not stat.S_ISREG(os.fstat(ffd).st_mode):
                    continue
                size = st.st_size
                out.add(tar_header(rel, b"0", mode, st.st_uid, st.st_gid, size, mtime,
                                   xattrs=_xattrs(ffd)))
                left = size
                while left > 0:
                    chunk = os.read(ffd, min(left, _FLUSH))
                    if not chunk:
                        out.add(b"\0" * left)   # the file shrank under us: keep the tar well formed
                        break
                    out.add(chunk)
                    left -= len(chunk)
                out.add(b"\0" * ((-size) % 512))
                total += size
            finally:
                os.close(ffd)
        elif stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=dfd)
            out.add(tar_header(rel, b"2", 0o777, st.st_uid, st.st_gid, 0, mtime,
                               linkname=os.fsencode(target)))
        elif is_whiteout(st):
            out.add(tar_header(prefix + WHITEOUT_PREFIX + name, b"0", mode, st.st_uid, st.st_gid, 0, mtime))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            typ = b"3" if stat.S_ISCHR(st.st_mode) else b"4"
            out.add(tar_header(rel, typ, mode, st.st_uid, st.st_gid, 0, mtime,
                               devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev)))
        elif stat.S_ISFIFO(st.st_mode):
            out.add(tar_header(rel, b"6", mode, st.st_uid, st.st_gid, 0, mtime))
        # sockets have no tar form: skipped, as docker does
    return total


# --- changes (berth diff) -------------------------------------------------------------------

def _lower_exists(lowers: list[Path], parts: list[str]) -> bool:
    for layer in lowers:
        cur = layer
        opaque_above = False
        for i, comp in enumerate(parts):
            cur = cur / comp
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                break
            if is_whiteout(st):
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False
            if is_opaque(cur):
                opaque_above = True
        if opaque_above:
            return False
    return False


def _lower_children(lowers: list[Path], parts: list[str]) -> set[str]:
    names: set[str] = set()
    hidden: set[str] = set()
    for layer in lowers:
        d = layer.joinpath(*parts)
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if is_whiteout(st):
                    hidden.add(e.name)
                elif e.name not in hidden:
                    names.add(e.name)
        if is_opaque(d):
            break
    return names - hidden


def changes(upper: str | os.PathLike[str], lowers: list[Path]) -> list[tuple[str, str]]:
    """What an upper folder changes over its lower layers (top first), as ``docker diff`` lists it."""
    result: list[tuple[str, str]] = []

    def walk(folder: Path, parts: list[str]) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            sub = parts + [e.name]
            path = "/" + "/".join(sub)
            st = e.stat(follow_symlinks=False)
            if is_whiteout(st):
                if _lower_exists(lowers, sub):
                    result.append(("D", path))
                continue
            existed = _lower_exists(lowers, sub)
            result.append(("C" if existed else "A", path))
            if stat.S_ISDIR(st.st_mode):
                if existed and is_opaque(e.path):
                    present = {c.name for c in os.scandir(e.path)}
                    for gone in sorted(_lower_children(lowers, sub) - present):
                        result.append(("D", path + "/" + gone))
                walk(Path(e.path), sub)

    walk(Path(upper), [])
    result.sort(key=lambda c: c[1])
    return result
