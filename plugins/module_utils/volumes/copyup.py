"""Copy an image folder's content into a new volume, keeping what a filesystem copy can keep.

Owners (numeric, never looked up), modes with setuid/setgid/sticky bits, extended attributes
(security.capability among them; trusted.* is skipped as the store's extractor skips it),
hard links inside the tree, symlinks as they are (never followed), device nodes, FIFOs and
times. The source lies inside a container's rootfs, so nothing in it is followed: every
entry is read with lstat and opened with O_NOFOLLOW.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat

_CHUNK = 1 << 20


def _copy_xattrs(src: str, dst: str, is_link: bool) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in names:
        if name.startswith("trusted.") or (is_link and not name.startswith("security.")):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                raise


def _metadata(src: str, dst: str, st: os.stat_result) -> None:
    is_link = stat.S_ISLNK(st.st_mode)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not is_link:
        # After chown, which clears setuid and setgid bits.
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst, is_link)
    with contextlib.suppress(NotImplementedError):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, dst: str) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while True:
                # copy_file_range shares extents where the filesystem can; read/write otherwise.
                try:
                    n = os.copy_file_range(fin, fout, _CHUNK)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    buf = os.read(fin, _CHUNK)
                    n = len(buf)
                    if n:
                        os.write(fout, buf)
                if n == 0:
                    break
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def copy_tree(src: str, dst: str) -> int:
    """Copy the content of folder ``src`` into the empty folder ``dst``; ``dst`` takes the owner,
    mode and attributes of ``src`` (Docker gives the volume the image folder's). Returns the
    number of entries copied."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    dirs: list[tuple[str, str, os.stat_result]] = []

    def walk(s_dir: str, d_dir: str) -> None:
        nonlocal count
        with os.scandir(s_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            s = os.path.join(s_dir, entry.name)
            d = os.path.join(d_dir, entry.name)
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            count += 1
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
                walk(s, d)
                dirs.append((s, d, st))  # times of a folder are set after its content
                continue
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], d, follow_symlinks=False)
                continue
            if stat.S_ISREG(mode):
                _copy_file(s, d)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                os.mknod(d, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            else:
                continue  # sockets are not content
            _metadata(s, d, st)
            if st.st_nlink > 1:
                links[key] = d

    walk(src, dst)
    for s, d, st in dirs:
        _metadata(s, d, st)
    _metadata(src, dst, os.lstat(src))
    return count
