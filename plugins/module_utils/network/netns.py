"""Network namespaces as files: create, enter for a moment, delete; stdlib only.

A container's network namespace is made before its process exists and kept alive by a bind
mount of its nsfs file on ``run/netns/<id>``, as ``ip netns add`` does; the runtime joins it
by path. Work inside a namespace happens in a short-lived thread that calls setns(2): a
namespace switch affects only the calling thread, so the rest of the process stays in the
host's namespace whatever happens, and sockets made in the thread keep the namespace they
were made in.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import NetworkError

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
NSFS_MAGIC = 0x6E736673
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(ret: int, what: str, path: str | os.PathLike[str] = "") -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise NetworkError(f"{what} {os.fspath(path)}: {os.strerror(err)}".rstrip(), errno=err,
                           path=os.fspath(path))


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread and hand back its result or its exception."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="berth-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def run_in_netns(path: str | os.PathLike[str], fn: Callable[[], T]) -> T:
    """Call ``fn`` with the calling thread in the network namespace at ``path``."""
    def inside() -> T:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NetworkError(f"network namespace {os.fspath(path)} does not exist",
                               path=os.fspath(path)) from None
        try:
            setns(fd)
        finally:
            os.close(fd)
        return fn()
    return in_thread(inside)


def is_netns(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a live namespace bind mount (not just the empty file under it)."""
    # An nsfs mount has a device of its own; the plain file under it has its folder's.
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(os.fspath(path))).st_dev
    except OSError:
        return False


def set_link_up(ifname: str) -> None:
    """Bring an interface up in the calling thread's namespace, without netlink."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", ifname.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | IFF_UP))


def create_netns(path: str | os.PathLike[str]) -> Path:
    """A new network namespace with ``lo`` up, kept alive by a bind mount on ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if is_netns(path):
        raise NetworkError(f"network namespace {path} already exists", path=str(path))
    if os.path.lexists(path):
        os.unlink(path)  # left by a create that died before its mount
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def inside() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET) for", path)
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        _check(_libc.mount(src, os.fsencode(path), None, MS_BIND, None), "bind mount of netns on", path)
        set_link_up("lo")

    try:
        in_thread(inside)
    except BaseException:
        _detach(path)
        raise
    return path


def _detach(path: Path) -> None:
    # A file can carry stacked mounts if two creates raced; peel them all.
    for _ in range(8):
        if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                break
            raise NetworkError(f"cannot unmount network namespace {path}: {os.strerror(err)}",
                               path=str(path))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def delete_netns(path: str | os.PathLike[str]) -> None:
    """Drop the bind mount and the file; the namespace dies with its last process."""
    _detach(Path(path))
