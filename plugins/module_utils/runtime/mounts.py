"""Mounting an OCI spec's mounts inside a container's rootfs, safely.

Runs in the launcher, inside the container's new mount namespace and before pivot_root. The
rootfs comes from an image, so nothing in it is trusted: every target is reached by walking
it component by component with O_PATH|O_NOFOLLOW from the rootfs, symlinks are followed only
inside the rootfs, and the mount is made onto /proc/self/fd/N of the file that was checked, so
no path is looked up twice. The targets the engine itself provides (/proc, /dev, /sys,
/etc/hosts, /etc/hostname, /etc/resolv.conf...) are replaced when the image has something
else there (a symlink, a FIFO, a directory instead of a file), the way Docker's init layer
does; the replacement happens in the container's writable layer, never outside it.
"""
from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from typing import Any

from .. import fsutil
from ..errors import RuntimeFailure
from . import syscalls as sc

# option -> (clear, set)
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (0, sc.MS_RDONLY), "rw": (sc.MS_RDONLY, 0),
    "nosuid": (0, sc.MS_NOSUID), "suid": (sc.MS_NOSUID, 0),
    "nodev": (0, sc.MS_NODEV), "dev": (sc.MS_NODEV, 0),
    "noexec": (0, sc.MS_NOEXEC), "exec": (sc.MS_NOEXEC, 0),
    "sync": (0, sc.MS_SYNCHRONOUS), "async": (sc.MS_SYNCHRONOUS, 0),
    "dirsync": (0, sc.MS_DIRSYNC), "remount": (0, sc.MS_REMOUNT),
    "mand": (0, sc.MS_MANDLOCK), "nomand": (sc.MS_MANDLOCK, 0),
    "atime": (sc.MS_NOATIME, 0), "noatime": (0, sc.MS_NOATIME),
    "diratime": (sc.MS_NODIRATIME, 0), "nodiratime": (0, sc.MS_NODIRATIME),
    "bind": (0, sc.MS_BIND), "rbind": (0, sc.MS_BIND | sc.MS_REC),
    "relatime": (0, sc.MS_RELATIME), "norelatime": (sc.MS_RELATIME, 0),
    "strictatime": (0, sc.MS_STRICTATIME), "nostrictatime": (sc.MS_STRICTATIME, 0),
    "nosymfollow": (0, sc.MS_NOSYMFOLLOW), "symfollow": (sc.MS_NOSYMFOLLOW, 0),
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Paths the engine provides: what the image has there is replaced, never followed.
ENGINE_TARGETS = frozenset({
    "/proc", "/sys", "/dev", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
    "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/sys/fs/cgroup", "/.dockerenv",
})
# statvfs flags that a read-only remount must keep (they share their values with MS_*)
_KEEP_ON_REMOUNT = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME


def parse_options(options: list[str] | tuple[str, ...]) -> tuple[int, int, list[str]]:
    """(flags, propagation flags, data options) from an OCI mount's option list."""
    flags = 0
    prop = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            clear, set_ = _FLAGS[opt]
            flags = (flags & ~clear) | set_
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        elif opt in ("rro", "rrw", "idmap", "ridmap", "tmpcopyup", "copyup"):
            continue  # recursive read-only and idmapped mounts: not supported on purpose
        else:
            data.append(opt)
    return flags, prop, data


def _norm(target: str) -> str:
    parts = [p for p in target.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise RuntimeFailure(f"mount destination {target!r} must not contain '..'", destination=target)
    return "/" + "/".join(parts)


class Rootfs:
    """The container's rootfs as seen by the launcher, with safe ways to reach inside it."""

    def __init__(self, path: str) -> None:
        self.path = path.rstrip("/") or "/"
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def host_path(self, fd: int) -> str:
        return sc.proc_fd_path(fd)

    def open_target(self, target: str, want_dir: bool, engine_owned: bool | None = None) -> int:
        """An O_PATH fd of ``target`` inside the rootfs, created with the right type if missing."""
        target = _norm(target)
        if engine_owned is None:
            engine_owned = target in ENGINE_TARGETS
        for _ in range(40):
            fd, redirect = self._walk(target, want_dir, engine_owned)
            if redirect is None:
                return fd
            target = redirect
        raise RuntimeFailure(f"too many symbolic links resolving mount destination {target!r}",
                             destination=target)

    def _walk(self, target: str, want_dir: bool, engine_owned: bool) -> tuple[int, str | None]:
        parts = [p for p in target.split("/") if p]
        if not parts:
            return os.dup(self.fd), None
        dfd = os.dup(self.fd)
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                st = _lstat_at(dfd, name)
                if st is not None and stat.S_ISLNK(st.st_mode) and not (last and engine_owned):
                    # Follow inside the rootfs: resolve the link text against the rootfs.
                    sofar = "/" + "/".join(parts[:i + 1])
                    resolved = fsutil.resolve_in_root(self.path, sofar)
                    rel = os.path.relpath(resolved, self.path)
                    rest = "/".join(parts[i + 1:])
                    return -1, _norm("/" + (rel if rel != "." else "") + ("/" + rest if rest else ""))
                if last:
                    return self._final(dfd, name, st, want_dir, engine_owned), None
                if st is None:
                    os.mkdir(name, 0o755, dir_fd=dfd)
                elif not stat.S_ISDIR(st.st_mode):
                    if not engine_owned:
                        raise RuntimeFailure(
                            f"mount destination {target!r}: {'/'.join(parts[:i + 1])} is not a directory",
                            destination=target)
                    _remove_at(dfd, name, st)
                    os.mkdir(name, 0o755, dir_fd=dfd)
                nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
                os.close(dfd)
                dfd = nfd
        finally:
            if dfd >= 0:
                os.close(dfd)
        raise AssertionError("unreachable")

    def _final(self, dfd: int, name: str, st: os.stat_result | None, want_dir: bool,
               engine_owned: bool) -> int:
        if st is not None:
            ok = stat.S_ISDIR(st.st_mode) if want_dir else not stat.S_ISDIR(st.st_mode)
            if engine_owned and not want_dir and not stat.S_ISREG(st.st_mode):
                ok = False  # a FIFO, socket, device or symlink where a plain file belongs
            if not ok:
                if not engine_owned:
                    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a directory"
                    raise RuntimeFailure(f"cannot mount on {name!r}: the image has {kind} there",
                                         destination=name)
                _remove_at(dfd, name, st)
                st = None
        if st is None:
            if want_dir:
                os.mkdir(name, 0o755, dir_fd=dfd)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o644, dir_fd=dfd))
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        got = os.fstat(fd).st_mode
        if want_dir != stat.S_ISDIR(got) or stat.S_ISLNK(got):
            os.close(fd)
            raise RuntimeFailure(f"mount destination {name!r} changed type while being prepared",
                                 destination=name)
        return fd


def _lstat_at(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove_at(dfd: int, name: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def mount_one(root: Rootfs, m: dict[str, Any], label_ro_later: list[tuple[int, int]]) -> None:
    """Mount one OCI mount inside ``root``. Read-only binds are remounted at once."""
    target = m.get("destination") or ""
    mtype = m.get("type") or ("bind" if "bind" in (m.get("options") or []) or
                              "rbind" in (m.get("options") or []) else "")
    source = m.get("source") or mtype
    flags, prop, data = parse_options(m.get("options") or [])
    is_bind = bool(flags & sc.MS_BIND) or mtype == "bind"
    if is_bind:
        flags |= sc.MS_BIND
        try:
            want_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as exc:
            raise RuntimeFailure(f"bind mount source {source!r} for {target!r}: {exc.strerror}",
                                 source=source, destination=target) from exc
    else:
        want_dir = True
    fd = root.open_target(target, want_dir)
    try:
        where = root.host_path(fd)
        if mtype in ("cgroup", "cgroup2") and not is_bind:
            mount_cgroups(where, flags, lambda: root.open_target(target, True))
            return
        try:
            if is_bind:
                sc.mount(source, where, None, flags & (sc.MS_BIND | sc.MS_REC))
            else:
                sc.mount(source, where, mtype, flags & ~sc.MS_REMOUNT, ",".join(data) or None)
            later = flags & ~(sc.MS_BIND | sc.MS_REC) if is_bind else 0
            if later or prop:
                # The fd names what lies under the new mount: reach the mount itself afresh.
                os.close(fd)
                fd = root.open_target(target, want_dir)
                where = root.host_path(fd)
                if later:  # the kernel ignores flags on the first bind: a remount applies them
                    sc.mount(None, where, None, later | sc.MS_REMOUNT | sc.MS_BIND)
                if prop:
                    sc.mount(None, where, None, prop)
        except OSError as exc:
            raise RuntimeFailure(f"cannot mount {mtype or 'bind'} {source!r} on {target!r}: {exc.strerror}",
                                 destination=target, source=source) from exc
    finally:
        os.close(fd)


def cgroup_layout() -> list[tuple[str, str, str]]:
    """The host's cgroup mounts below /sys/fs/cgroup: (name, fstype, super options)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            mnt = fields[4]
            fstype, _src, sopts = (right.split() + ["", "", ""])[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            if mnt == "/sys/fs/cgroup":
                out.append(("", fstype, ""))
            elif mnt.startswith("/sys/fs/cgroup/"):
                name = mnt[len("/sys/fs/cgroup/"):]
                if "/" in name:
                    continue
                opts = [o for o in sopts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
                out.append((name, fstype, ",".join(opts)))
    return out


def mount_cgroups(where: str, flags: int, reopen: Callable[[], int]) -> None:
    """/sys/fs/cgroup inside the container, shaped like the host's (v2, v1 or hybrid).

    ``reopen`` gives a fresh fd of the target: the fd behind ``where`` names the directory under
    the tmpfs just mounted, not the tmpfs itself.
    """
    ro = flags & sc.MS_RDONLY
    base = (flags | sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV) & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    layout = cgroup_layout()
    if any(name == "" and fstype == "cgroup2" for name, fstype, _ in layout) or not layout:
        sc.mount("cgroup2", where, "cgroup2", base)
        return
    sc.mount("tmpfs", where, "tmpfs", sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV, "mode=755")
    dfd = reopen()
    try:
        top = sc.proc_fd_path(dfd)
        for name, fstype, opts in layout:
            if not name:
                continue
            os.mkdir(name, 0o555, dir_fd=dfd)
            try:
                sc.mount("cgroup", f"{top}/{name}", fstype, base, opts if fstype == "cgroup" else None)
            except OSError:
                os.rmdir(name, dir_fd=dfd)  # a hierarchy this namespace cannot see
        if ro:
            sc.mount(None, top, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV)
    finally:
        os.close(dfd)


# --- /dev -------------------------------------------------------------------------------------

DEFAULT_DEVICES = (
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
)
DEV_LINKS = (("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
             ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
             ("/dev/ptmx", "pts/ptmx"))


def make_devices(root: Rootfs, devices: list[dict[str, Any]]) -> None:
    """Device nodes in the container's /dev (a fresh tmpfs): mknod, or a bind of the host's."""
    wanted = {d[0]: {"path": d[0], "type": d[1], "major": d[2], "minor": d[3], "fileMode": 0o666}
              for d in DEFAULT_DEVICES}
    for d in devices or []:
        wanted[_norm(d["path"])] = d
    for path, d in wanted.items():
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(d.get("type", "c"))
        if kind is None:
            raise RuntimeFailure(f"device {path!r}: unknown type {d.get('type')!r}", device=path)
        parent, name = os.path.split(path)
        pfd = root.open_target(parent, True)
        try:
            mode = int(d.get("fileMode", 0o666)) & 0o7777
            try:
                os.mknod(name, kind | mode, os.makedev(int(d.get("major", 0)), int(d.get("minor", 0))),
                         dir_fd=pfd)
                os.chmod(name, mode, dir_fd=pfd)  # mknod honours the umask
            except FileExistsError:
                continue
            except PermissionError:
                # No CAP_MKNOD here (a user namespace): bind the host's node instead.
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=pfd))
                sc.mount(path, f"{root.host_path(pfd)}/{name}", None, sc.MS_BIND)
            os.chown(name, int(d.get("uid", 0)), int(d.get("gid", 0)), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)


def make_dev_links(root: Rootfs) -> None:
    dfd = root.open_target("/dev", True)
    try:
        for link, to in DEV_LINKS:
            name = link[len("/dev/"):]
            try:
                os.symlink(to, name, dir_fd=dfd)
            except FileExistsError:
                pass
        if os.path.exists("/proc/kcore"):
            try:
                os.symlink("/proc/kcore", "core", dir_fd=dfd)
            except FileExistsError:
                pass
    finally:
        os.close(dfd)


# --- after pivot_root: paths are inside the container now -----------------------------------

def mask_path(path: str) -> None:
    """Hide ``path``: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            return
        where = sc.proc_fd_path(fd)
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", where, "tmpfs", sc.MS_RDONLY, "size=0k")
        else:
            sc.mount("/dev/null", where, None, sc.MS_BIND)
    finally:
        os.close(fd)


def readonly_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return
        where = sc.proc_fd_path(fd)
        sc.mount(where, where, None, sc.MS_BIND | sc.MS_REC)
    finally:
        os.close(fd)
    remount_readonly(path)  # by name: the old fd names what lies under the new bind


def remount_readonly(where: str) -> None:
    keep = os.statvfs(where).f_flag & _KEEP_ON_REMOUNT
    sc.mount(None, where, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep)
