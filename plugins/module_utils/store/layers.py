"""Unpacking layer archives safely, into a folder that overlayfs stacks as a lower layer.

Every filesystem call is made relative to a directory file descriptor reached from the target
by opening one component at a time with O_NOFOLLOW, so no entry can write, chmod, chown or set
times outside the target: not through ``..`` or absolute names (refused), nor symbolic links
(never followed: a link in a parent position is refused), nor hard links (made only to entries
already inside the target). The target is an empty folder per layer, so links planted by an
earlier layer are not there to follow. OCI whiteouts become overlayfs whiteouts: ``.wh.name`` a
0/0 character device, ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` attribute.

Owners stay numeric; modes keep setuid, setgid and sticky bits; device nodes and fifos are made;
``security.capability`` and ``user.*`` attributes are kept and ``trusted.*`` ones dropped.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import BerthError, InvalidSpec, LimitExceeded, UnsafeContent
from .tarstream import (
    CHR,
    DEFAULT_LIMITS,
    DIR,
    FIFO,
    HARD,
    REG,
    SYM,
    DecompressedStream,
    Entry,
    Limits,
    Sink,
    TarReader,
)

WHITEOUT_PREFIX = b".wh."
OPAQUE = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_NAME = 255
_CACHE_MAX = 256


@dataclass(frozen=True)
class LayerInfo:
    diff_id: str
    size: int              # bytes of regular file data: docker's layer Size
    entries: int
    compressed_size: int
    compression: str
    max_mtime: int         # newest entry time (seconds): a reproducible "created" for imports


def keep_xattr(name: str) -> bool:
    return name.startswith("user.") or name == "security.capability" or name.startswith("system.posix_acl_")


def _umask() -> int:
    # Reading the umask through /proc avoids os.umask(), which would race other threads.
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def split_path(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, ...]:
    """An entry name as path components; refuses absolute names and ``..``."""
    if raw.startswith(b"/"):
        raise UnsafeContent(f"layer entry {_show(raw)} has an absolute path", path=_show(raw))
    parts = tuple(p for p in raw.split(b"/") if p and p != b".")
    for p in parts:
        if p == b"..":
            raise UnsafeContent(f"layer entry {_show(raw)} climbs out of the layer with '..'",
                                path=_show(raw))
        if len(p) > _MAX_NAME:
            raise LimitExceeded(f"layer entry {_show(raw)} has a name longer than {_MAX_NAME} bytes",
                                limit="name_max", path=_show(raw))
        if b"\0" in p:
            raise InvalidSpec(f"layer entry {_show(raw)} has a NUL byte in its name", path=_show(raw))
    return parts


def _show(raw: bytes) -> str:
    s = raw.decode("utf-8", "backslashreplace")
    return s if len(s) <= 200 else s[:200] + "..."


class _Extractor:
    def __init__(self, root_fd: int, reader: TarReader) -> None:
        self.root_fd = root_fd
        self.reader = reader
        self.cache: dict[tuple[bytes, ...], int] = {}
        self.sgid_dirs: set[tuple[bytes, ...]] = set()
        self.dir_times: list[tuple[tuple[bytes, ...], int]] = []
        self.umask = _umask()
        self.euid = os.geteuid()
        self.size = 0
        self.max_mtime = 0

    # -- directories --
    def dir_fd(self, parts: tuple[bytes, ...], create: bool = True) -> int:
        """An fd for the folder ``parts`` under the root, walked without following links.

        The walk starts at the deepest cached ancestor; only the folder asked for is cached, so
        a hostile deep path cannot exhaust file descriptors."""
        if not parts:
            return self.root_fd
        fd = self.cache.get(parts)
        if fd is not None:
            return fd
        i = len(parts) - 1
        while i > 0 and parts[:i] not in self.cache:
            i -= 1
        cur = self.cache[parts[:i]] if i else self.root_fd
        owned = False
        try:
            for j in range(i, len(parts)):
                nxt = self._open_child(cur, parts[:j + 1], create)
                if owned:
                    os.close(cur)
                cur, owned = nxt, True
        except BaseException:
            if owned:
                os.close(cur)
            raise
        self.cache[parts] = cur
        return cur

    def _open_child(self, parent: int, parts: tuple[bytes, ...], create: bool) -> int:
        name = parts[-1]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent)   # an implied parent, as tar and docker make it
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.lstat(name, dir_fd=parent)
            where = _show(b"/".join(parts))
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeContent(f"layer writes through the symbolic link {where}", path=where) from None
            raise InvalidSpec(f"layer puts entries below {where}, which is not a directory",
                              path=where) from None

    def forget(self, parts: tuple[bytes, ...]) -> None:
        """Drop cached fds at or below ``parts`` (the folder was removed or replaced)."""
        n = len(parts)
        for key in [k for k in self.cache if k[:n] == parts]:
            os.close(self.cache.pop(key))

    def close_cache(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()

    def make_room(self, pfd: int, parts: tuple[bytes, ...], keep_dir: bool) -> bool:
        """Remove what stands at ``parts`` (tar semantics: a later entry replaces an earlier one).

        Returns True when an existing folder was kept (a directory entry over a directory)."""
        name = parts[-1]
        try:
            st = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self.forget(parts)
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)
        return False

    # -- entries --
    def run(self) -> None:
        for e in self.reader:
            if len(self.cache) > _CACHE_MAX:
                self.close_cache()   # only here: no fd handed out for this entry is closed under it
            parts = split_path(e.path, self.reader.limits)
            if e.mtime_ns > self.max_mtime:
                self.max_mtime = e.mtime_ns
            if not parts:
                if e.type == DIR:
                    self.dir_meta(self.root_fd, (), e, keep_times=True)
                continue
            name = parts[-1]
            if name.startswith(WHITEOUT_PREFIX):
                self.whiteout(parts)
                continue
            pfd = self.dir_fd(parts[:-1])
            t = e.type
            if t == REG:
                self.regular(pfd, parts, e)
            elif t == DIR:
                self.directory(pfd, parts, e)
            elif t == SYM:
                try:
                    os.symlink(e.linkname, name, dir_fd=pfd)
                except FileExistsError:
                    self.make_room(pfd, parts, False)
                    os.symlink(e.linkname, name, dir_fd=pfd)
                self.owner_and_times(pfd, parts, e)
            elif t == HARD:
                self.hardlink(pfd, parts, e)
            else:
                self.special(pfd, parts, e)

    def regular(self, pfd: int, parts: tuple[bytes, ...], e: Entry) -> None:
        name = parts[-1]
        mode = e.mode
        try:
            fd = os.open(name, _FILE_FLAGS, mode, dir_fd=pfd)
        except FileExistsError:
            self.make_room(pfd, parts, False)
            fd = os.open(name, _FILE_FLAGS, mode, dir_fd=pfd)
        try:
            if e.size:
                self.reader.copy_to(fd, e.size)
                self.size += e.size
            chowned = False
            if e.uid != self.euid or e.gid != 0 or parts[:-1] in self.sgid_dirs:
                os.fchown(fd, e.uid, e.gid)
                chowned = True
            # The kernel drops setuid/setgid on chown and masks the mode with the umask.
            if mode & self.umask or (chowned and mode & 0o6000):
                os.fchmod(fd, mode)
            if e.xattrs:
                self.set_xattrs(fd, e)
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
        finally:
            os.close(fd)

    def directory(self, pfd: int, parts: tuple[bytes, ...], e: Entry) -> None:
        name = parts[-1]
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not self.make_room(pfd, parts, True):
                os.mkdir(name, 0o700, dir_fd=pfd)
        fd = self.cache.get(parts)
        if fd is None:
            fd = self.dir_fd(parts)
        self.dir_meta(fd, parts, e)

    def dir_meta(self, fd: int, parts: tuple[bytes, ...], e: Entry, keep_times: bool = True) -> None:
        os.fchown(fd, e.uid, e.gid)
        os.fchmod(fd, e.mode)
        if e.mode & stat.S_ISGID:
            self.sgid_dirs.add(parts)
        else:
            self.sgid_dirs.discard(parts)
        if e.xattrs:
            self.set_xattrs(fd, e)
        # Writing entries into a folder changes its mtime: set it once everything is in.
        self.dir_times.append((parts, e.mtime_ns))

    def hardlink(self, pfd: int, parts: tuple[bytes, ...], e: Entry) -> None:
        target = split_path(e.linkname, self.reader.limits)
        where = _show(e.path)
        if not target:
            raise UnsafeContent(f"hard link {where} points at the layer root", path=where)
        if target == parts:
            return
        try:
            tfd = self.dir_fd(target[:-1], create=False)
            st = os.lstat(target[-1], dir_fd=tfd)
        except FileNotFoundError:
            raise UnsafeContent(f"hard link {where} points at {_show(e.linkname)}, which is not an "
                                "earlier entry of this layer", path=where) from None
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeContent(f"hard link {where} points at a directory", path=where)
        self.make_room(pfd, parts, False)
        os.link(target[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)

    def special(self, pfd: int, parts: tuple[bytes, ...], e: Entry) -> None:
        name = parts[-1]
        self.make_room(pfd, parts, False)
        perm = e.mode & 0o777
        if e.type == FIFO:
            os.mkfifo(name, perm, dir_fd=pfd)
        else:
            kind = stat.S_IFCHR if e.type == CHR else stat.S_IFBLK
            os.mknod(name, kind | perm, os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
        os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        if e.mode & ~perm or perm & self.umask:
            # chmod through an O_PATH descriptor: the node itself, never a link in its place.
            nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                os.chmod(f"/proc/self/fd/{nfd}", e.mode)
            finally:
                os.close(nfd)
        os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def owner_and_times(self, pfd: int, parts: tuple[bytes, ...], e: Entry) -> None:
        name = parts[-1]
        if e.uid != self.euid or e.gid != 0 or parts[:-1] in self.sgid_dirs:
            os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def whiteout(self, parts: tuple[bytes, ...]) -> None:
        name = parts[-1]
        pfd = self.dir_fd(parts[:-1])
        if name == OPAQUE:
            os.setxattr(pfd, OPAQUE_XATTR, b"y")
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk and friends): meaningless here
        hidden = name[len(WHITEOUT_PREFIX):]
        if hidden in (b"", b".", b".."):
            raise UnsafeContent(f"invalid whiteout {_show(b'/'.join(parts))}", path=_show(b"/".join(parts)))
        target = parts[:-1] + (hidden,)
        self.make_room(pfd, target, False)
        os.mknod(hidden, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=pfd)

    def set_xattrs(self, fd: int, e: Entry) -> None:
        assert e.xattrs is not None
        for key, value in e.xattrs.items():
            if not keep_xattr(key):
                continue
            try:
                os.setxattr(fd, key, value)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                    raise

    def finish(self) -> None:
        self.close_cache()
        for parts, mtime in self.dir_times:
            try:
                fd = self.dir_fd(parts, create=False)
            except (FileNotFoundError, InvalidSpec, UnsafeContent):
                continue  # a later entry replaced this folder with something else
            os.utime(fd, ns=(mtime, mtime))
        self.close_cache()


def extract(fileobj: BinaryIO, dest: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS,
            tee: Sink | None = None) -> LayerInfo:
    """Unpack a layer into the empty folder ``dest``; returns its diff_id and sizes.

    On error the folder is left partly written: the caller unpacks into a temporary folder and
    removes it (Snapshotter.unpack does)."""
    stream = DecompressedStream(fileobj, tee=tee, limits=limits)
    root_fd = os.open(dest, _DIR_FLAGS)
    ex = _Extractor(root_fd, TarReader(stream))
    try:
        try:
            ex.run()
            ex.finish()
        finally:
            ex.close_cache()
        diff_id = stream.diff_id()
    except BerthError:
        raise
    except OSError as exc:
        where = f" ({exc.filename!r})" if exc.filename else ""
        raise BerthError(f"cannot unpack layer into {dest}: {exc.strerror}{where}",
                         errno=exc.errno) from exc
    finally:
        stream.close()
        os.close(root_fd)
    return LayerInfo(diff_id, ex.size, ex.reader.entries, stream.compressed_size, stream.compression,
                     ex.max_mtime // 1_000_000_000)


def digest_stream(fileobj: BinaryIO, limits: Limits = DEFAULT_LIMITS, tee: Sink | None = None) -> LayerInfo:
    """The diff_id of a layer without unpacking it (verification of archives)."""
    stream = DecompressedStream(fileobj, tee=tee, limits=limits)
    try:
        diff_id = stream.diff_id()
    finally:
        stream.close()
    return LayerInfo(diff_id, stream.total, 0, stream.compressed_size, stream.compression, 0)


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | os.PathLike[str] | int) -> bool:
    try:
        if isinstance(path, int):
            return os.getxattr(path, OPAQUE_XATTR) == b"y"
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def tree_size(path: str | os.PathLike[str]) -> int:
    """Bytes of regular files below ``path`` (each inode once)."""
    seen: set[int] = set()
    total = 0
    stack = [os.fspath(path)]
    while stack:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(stack.pop()) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                elif stat.S_ISREG(st.st_mode):
                    if st.st_nlink > 1:
                        if st.st_ino in seen:
                            continue
                        seen.add(st.st_ino)
                    total += st.st_size
    return total


__all__ = ["LayerInfo", "Limits", "DEFAULT_LIMITS", "extract", "digest_stream", "split_path",
           "is_whiteout", "is_opaque", "tree_size", "Path"]
