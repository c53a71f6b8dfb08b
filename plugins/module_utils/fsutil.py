"""Small filesystem primitives that every part of the engine shares.

- atomic writes: temporary file in the same folder, fsync, rename, fsync of the folder;
- advisory locks (flock) on files under the run folder, so concurrent commands serialise;
- path resolution inside a root (a container's rootfs) that can never leave it, through
  openat2(RESOLVE_IN_ROOT) where the kernel has it, and a careful walk where it does not.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import IntegrityError, UnsafeContent


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: str | os.PathLike[str], mode: int = 0o700) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=mode)
    return p


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644,
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_json(path: str | os.PathLike[str], obj: Any, mode: int = 0o644, durable: bool = True) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True) + "\n", mode=mode, durable=durable)


def read_json(path: str | os.PathLike[str], default: Any = ...) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        if default is ...:
            raise
        return default
    except ValueError as exc:
        raise IntegrityError(f"{path} is not valid JSON: {exc}", path=str(path)) from exc


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], shared: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (created if needed) for the duration of the block."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove a folder and everything in it, including read-only and immutable-free trees."""
    p = Path(path)
    if not os.path.lexists(p):
        return
    if not p.is_dir() or p.is_symlink():
        p.unlink()
        return

    def retry(func: Any, name: str, _exc: Any) -> None:
        # Read-only folders inside layers (mode 0555) block removal of their entries.
        try:
            os.chmod(os.path.dirname(name), 0o700)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, 0o700)
                _rmtree(name, retry)
            else:
                os.unlink(name)
        except FileNotFoundError:
            pass

    _rmtree(p, retry)


def _rmtree(path: Any, handler: Any) -> None:
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=handler)
    else:
        shutil.rmtree(path, onerror=handler)


_deferred: list[Any] | None = None          # callables run by finish_discards


def discard_into(trash: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Remove a tree in two steps: an atomic rename out of sight, then the slow delete
    (left to ``finish_discards`` after ``defer_discards``)."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    trash = ensure_dir(trash)
    target = Path(tempfile.mkdtemp(prefix="del-", dir=trash))
    os.replace(path, target / "x")
    later(lambda: remove_tree(target))


def later(fn: Any) -> None:
    """Call ``fn()`` now, or after the command answered when discards are deferred (then
    in a detached process, where errors have nobody to go to)."""
    if _deferred is not None:
        _deferred.append(fn)
    else:
        fn()


def defer_discards() -> None:
    """From now on discard_into only moves trees out of sight (a short-lived command: the
    thing is gone for every reader once renamed, and the delete can happen after it answers)."""
    global _deferred
    if _deferred is None:
        _deferred = []


def finish_discards() -> None:
    """Delete what discard_into moved aside, in a detached process nobody waits for."""
    global _deferred
    todo, _deferred = _deferred or [], None
    if not todo:
        return
    try:
        pid = os.fork()
    except OSError:
        for fn in todo:
            fn()
        return
    if pid == 0:
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)  # a caller reading our output must not wait for this
            os.closerange(3, 65536)
            for fn in todo:
                with contextlib.suppress(Exception):
                    fn()
        finally:
            os._exit(0)
    # Not waited for: the command exits next, and its orphan is reaped by init (a second
    # fork to avoid a zombie would cost the command another ~4 ms).


# --- resolution inside a root -------------------------------------------------------------

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_have_openat2: bool | None = None


def open_in_root(root_fd: int, path: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """Open ``path`` as if ``root_fd`` were ``/``: symlinks and ``..`` cannot leave it."""
    global _have_openat2
    flags |= os.O_CLOEXEC
    rel = path.lstrip("/") or "."
    if _have_openat2 is not False:
        how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = _libc.syscall(_SYS_OPENAT2, root_fd, rel.encode(), ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            _have_openat2 = True
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EPERM) or _have_openat2:
            raise OSError(err, os.strerror(err), path)
        _have_openat2 = False
    resolved = resolve_in_root(f"/proc/self/fd/{root_fd}", path)
    return os.open(resolved, flags | os.O_NOFOLLOW, mode, dir_fd=None)


def resolve_in_root(root: str | os.PathLike[str], path: str, follow_last: bool = True) -> str:
    """Resolve ``path`` inside ``root`` the way the kernel would if ``root`` were ``/``.

    Symlinks are followed relative to ``root``; ``..`` stops at ``root``. The result is a host
    path that is ``root`` or below it. The walk is not atomic against a process changing the
    tree at the same time: callers that race a running container use ``open_in_root``.
    """
    root_s = os.fspath(root).rstrip("/") or "/"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root_s, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            done.extend(p for p in parts if p != "..")  # the rest does not exist yet
            if ".." in parts:
                raise UnsafeContent(f"cannot resolve {path!r} below a missing component", path=path) from None
            break
        if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
            hops += 1
            if hops > 40:
                raise UnsafeContent(f"too many levels of symbolic links in {path!r}", path=path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return os.path.join(root_s, *done) if done else root_s


def is_within(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    root_s = os.path.realpath(root)
    p = os.path.realpath(path)
    return p == root_s or p.startswith(root_s.rstrip("/") + "/")
