"""`cp` and `export`: files between a container's rootfs and the host, safe against links.

Every path inside the container is opened relative to a descriptor of its rootfs with
openat2(RESOLVE_IN_ROOT) (fsutil.open_in_root), and every step below it with O_NOFOLLOW: a
symlink the container planted, even one swapped in while we copy, cannot make us read or write
a host file. Docker's path rules apply: an existing folder receives the source by its name, a
source ending in ``/.`` gives its contents, a missing destination is created.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
import tempfile
from typing import BinaryIO

from ..errors import InvalidSpec, NotFound
from ..fsutil import open_in_root

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _root_fd(rootfs: str) -> int:
    return os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _open_dir(root_fd: int, path: str) -> int | None:
    try:
        return open_in_root(root_fd, path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _contents_mode(path: str) -> bool:
    return path.endswith("/.") or path == "."


# --- into the container ---------------------------------------------------------------------

def _put(src: str, parent_fd: int, name: str, archive: bool) -> None:
    st = os.lstat(src)
    try:
        cur = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        cur = None
    if stat.S_ISDIR(st.st_mode):
        if cur is not None and not stat.S_ISDIR(cur.st_mode):
            raise InvalidSpec(f"cannot overwrite non-directory {name!r} with directory", field="dest", value=name)
        if cur is None:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        fd = os.open(name, _DIR, dir_fd=parent_fd)
        try:
            for entry in sorted(os.listdir(src)):
                _put(os.path.join(src, entry), fd, entry, archive)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.fchown(fd, st.st_uid if archive else 0, st.st_gid if archive else 0)
        finally:
            os.close(fd)
        return
    if cur is not None:
        if stat.S_ISDIR(cur.st_mode):
            raise InvalidSpec(f"cannot overwrite directory {name!r} with non-directory", field="dest", value=name)
        os.unlink(name, dir_fd=parent_fd)  # a link or file the container had: replaced, never followed
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), name, dir_fd=parent_fd)
        os.chown(name, st.st_uid if archive else 0, st.st_gid if archive else 0, dir_fd=parent_fd,
                 follow_symlinks=False)
        return
    if not stat.S_ISREG(st.st_mode):
        return  # devices, sockets and FIFOs are not copied
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=parent_fd)
    try:
        with open(src, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                os.write(fd, chunk)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        os.fchown(fd, st.st_uid if archive else 0, st.st_gid if archive else 0)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


def copy_in(src: str, rootfs: str, dest: str, follow: bool = False, archive: bool = False) -> None:
    if not os.path.lexists(src):
        raise NotFound(f"no such file or directory: {src}", path=src)
    if follow:
        src = os.path.realpath(src)
    root_fd = _root_fd(rootfs)
    try:
        dest_fd = _open_dir(root_fd, dest)
        if dest_fd is not None:
            try:
                if _contents_mode(src):
                    for entry in sorted(os.listdir(src)):
                        _put(os.path.join(src, entry), dest_fd, entry, archive)
                else:
                    _put(src, dest_fd, os.path.basename(os.path.normpath(src)), archive)
            finally:
                os.close(dest_fd)
            return
        if dest.endswith("/"):
            raise NotFound(f"no such directory: {dest}", path=dest)
        parent, name = os.path.split(dest.rstrip("/"))
        parent_fd = _open_dir(root_fd, parent or "/")
        if parent_fd is None:
            raise NotFound(f"Could not find the file {parent or '/'} in container", path=dest)
        try:
            _put(src, parent_fd, name, archive)
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)


def tar_in(rootfs: str, dest: str, stream: BinaryIO) -> None:
    """``cp - CONTAINER:DIR``: a tar stream unpacked into an existing folder of the container."""
    with tempfile.TemporaryDirectory(prefix="berth-cp-") as tmp:
        _extract_safely(stream, tmp)
        root_fd = _root_fd(rootfs)
        try:
            dest_fd = _open_dir(root_fd, dest)
            if dest_fd is None:
                raise NotFound(f"Could not find the file {dest} in container", path=dest)
            try:
                for entry in sorted(os.listdir(tmp)):
                    _put(os.path.join(tmp, entry), dest_fd, entry, archive=True)
            finally:
                os.close(dest_fd)
        finally:
            os.close(root_fd)


def _extract_safely(stream: BinaryIO, dest: str) -> None:
    """Unpack a tar into a private folder; no entry may leave it (``..``, absolute names,
    links planted by earlier entries). Only files, folders and symlinks are taken."""
    from ..errors import UnsafeContent

    real_dest = os.path.realpath(dest)
    with tarfile.open(fileobj=stream, mode="r|*") as tf:
        for m in tf:
            name = os.path.normpath(m.name.lstrip("/"))
            if name.startswith("..") or name == ".":
                if name == ".":
                    continue
                raise UnsafeContent(f"tar entry {m.name!r} leaves the destination", path=m.name)
            parent = os.path.realpath(os.path.join(dest, os.path.dirname(name)))
            if parent != real_dest and not parent.startswith(real_dest + "/"):
                raise UnsafeContent(f"tar entry {m.name!r} goes through a link out of the destination",
                                    path=m.name)
            if not (m.isfile() or m.isdir() or m.issym()):
                continue
            m.name = name
            tf.extract(m, dest, set_attrs=True, numeric_owner=True)


# --- out of the container -------------------------------------------------------------------

def _get(parent_fd: int, name: str, dest: str) -> None:
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, _DIR, dir_fd=parent_fd)
        try:
            os.makedirs(dest, exist_ok=True)
            for entry in sorted(os.listdir(fd)):
                _get(fd, entry, os.path.join(dest, entry))
        finally:
            os.close(fd)
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    elif stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        os.symlink(os.readlink(name, dir_fd=parent_fd), dest)
    elif stat.S_ISREG(st.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            with open(fd, "rb", closefd=False) as fin, open(dest, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        finally:
            os.close(fd)
        os.chmod(dest, stat.S_IMODE(st.st_mode))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        return
    with contextlib.suppress(OSError):
        os.lchown(dest, st.st_uid, st.st_gid)


def _locate(root_fd: int, src: str, follow: bool) -> tuple[int, str]:
    """(descriptor of the source's parent inside the root, the source's name)."""
    parent, name = os.path.split(os.path.normpath("/" + src))
    pfd = _open_dir(root_fd, parent)
    if pfd is None:
        raise NotFound(f"Could not find the file {src} in container", path=src)
    if name and follow:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            os.close(pfd)
            raise NotFound(f"Could not find the file {src} in container", path=src) from None
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=pfd)
            os.close(pfd)
            nxt = target if target.startswith("/") else os.path.join(parent, target)
            return _locate(root_fd, nxt, follow)
    return pfd, name


def copy_out(rootfs: str, src: str, dest: str, follow: bool = False) -> None:
    root_fd = _root_fd(rootfs)
    try:
        if _contents_mode(src):
            dfd = _open_dir(root_fd, src)
            if dfd is None:
                raise NotFound(f"Could not find the file {src} in container", path=src)
            try:
                os.makedirs(dest, exist_ok=True)
                for entry in sorted(os.listdir(dfd)):
                    _get(dfd, entry, os.path.join(dest, entry))
            finally:
                os.close(dfd)
            return
        pfd, name = _locate(root_fd, src, follow)
        try:
            if not name:  # the root itself
                os.close(pfd)
                pfd = os.open(rootfs, _DIR)
                name = "."
            try:
                os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"Could not find the file {src} in container", path=src) from None
            target = os.path.join(dest, os.path.basename(os.path.normpath("/" + src)) or "rootfs") \
                if os.path.isdir(dest) else dest
            _get(pfd, name, target)
        finally:
            os.close(pfd)
    finally:
        os.close(root_fd)


def tar_out(rootfs: str, src: str, out: BinaryIO, follow: bool = False) -> None:
    """``cp CONTAINER:PATH -``: a tar stream whose single top entry is the source's name."""
    with tempfile.TemporaryDirectory(prefix="berth-cp-") as tmp:
        name = os.path.basename(os.path.normpath("/" + src)) or "rootfs"
        copy_out(rootfs, src, os.path.join(tmp, name), follow)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            tf.add(os.path.join(tmp, name), arcname=name)
    out.flush()


def export_tar(rootfs: str, out: BinaryIO) -> None:
    """The merged rootfs as one tar, numeric owners, links kept as links."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(dirpath, name)
                info = tf.gettarinfo(full, arcname=os.path.relpath(full, rootfs))
                info.uname = info.gname = ""
                if info.isreg():
                    with open(full, "rb") as f:
                        tf.addfile(info, f)
                else:
                    tf.addfile(info)
    out.flush()
