"""From an OCI runtime spec to an exec'd container process.

``spawn`` runs in the monitor: it forks the container's first process into a new pid namespace
(the monitor stays its parent) and waits until that process has exec'd the user's command, or
has reported why it could not, through a close-on-exec pipe. ``_child`` runs in the new
process and does, in this order: non-dumpable, cgroup join, setns/unshare of the namespaces,
the mounts inside the rootfs, the devices, the console, pivot_root, masked and read-only paths,
hostname, sysctls, rlimits, the working directory, the user, capabilities, no_new_privs,
seccomp, closing every descriptor but 0-2, and execve with a PATH lookup inside the container.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import resource
import signal
import socket
import stat
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import CommandNotFound, CommandNotInvokable, RuntimeFailure
from . import mounts, security
from . import syscalls as sc

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E

_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


@dataclass
class Spawned:
    pid: int
    pty_master: int | None


class _Report(Exception):
    def __init__(self, kind: str, msg: str) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg


def raise_report(data: bytes, argv0: str = "") -> None:
    try:
        rep = json.loads(data)
        kind, msg = rep["kind"], rep["msg"]
    except (ValueError, KeyError, TypeError):
        kind, msg = "failure", data.decode(errors="replace") or "the container process failed to start"
    if kind == "not_found":
        raise CommandNotFound(msg, command=argv0)
    if kind == "not_invokable":
        raise CommandNotInvokable(msg, command=argv0)
    raise RuntimeFailure(msg)


def namespaces_of(spec: dict[str, Any]) -> dict[str, str | None]:
    return {n["type"]: n.get("path") or None for n in (spec.get("linux") or {}).get("namespaces") or []}


def spawn(spec: dict[str, Any], opts: dict[str, Any], stdio: tuple[int, int, int],
          cgroup_join: Callable[[], None] | None = None, self_pidns: int | None = None) -> Spawned:
    """Fork and launch; return once the container's command was exec'd (or raise why not)."""
    terminal = bool((spec.get("process") or {}).get("terminal"))
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    psock, csock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if terminal else (None, None)
    ns = namespaces_of(spec)
    sec = security.prepare(spec.get("process") or {}, spec.get("linux") or {})
    sec.precompile()  # on the host, in this process: the child only loads it
    # The first cgroup v1 migration waits for an RCU grace period (~12 ms here): this process
    # moves the child while the child sets up its namespaces and mounts, and the child waits
    # for it only where it must (its cgroup namespace, the cgroup mount).
    mover = getattr(getattr(cgroup_join, "__self__", None), "add", None)
    if "cgroup" in ns and ns["cgroup"]:
        mover = None  # joining another cgroup namespace: join the cgroup first, as before
    joined_r, joined_w = os.pipe2(os.O_CLOEXEC) if mover is not None else (-1, -1)
    joined = False
    pid = -1
    try:
        if "pid" in ns:
            if ns["pid"]:
                fd = os.open(ns["pid"], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(fd, sc.CLONE_NEWPID)
                finally:
                    os.close(fd)
            else:
                sc.unshare(sc.CLONE_NEWPID)
            joined = True
        pid = os.fork()
    finally:
        if pid != 0 and joined:
            # Forks that follow (exec helpers, on_exit) must stay in the monitor's namespace.
            own = self_pidns if self_pidns is not None else os.open("/proc/self/ns/pid", os.O_RDONLY)
            sc.setns(own, sc.CLONE_NEWPID)
            if self_pidns is None:
                os.close(own)
    if pid == 0:
        code = 1
        try:
            os.close(report_r)
            if psock is not None:
                psock.close()
            if joined_w >= 0:
                os.close(joined_w)
            _child(spec, opts, stdio, report_w, csock, None if mover is not None else cgroup_join, sec, joined_r)
        except _Report as exc:
            code = {"not_found": 127, "not_invokable": 126}.get(exc.kind, 1)
            _write_report(report_w, exc.kind, exc.msg)
        except BaseException as exc:  # noqa: BLE001 - anything at all must reach the caller
            _write_report(report_w, "failure", _describe(exc))
        finally:
            os._exit(code)
    os.close(report_w)
    if mover is not None:
        os.close(joined_r)
        try:
            mover(pid)
            os.write(joined_w, b"1")
        except Exception as exc:  # noqa: BLE001 - the child reports it and exits
            os.write(joined_w, b"0" + str(exc).encode()[:400])
        finally:
            os.close(joined_w)
    master = None
    try:
        if psock is not None and csock is not None:
            csock.close()
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(psock, 16, 1)
                master = fds[0] if fds else None
            finally:
                psock.close()
        data = _read_all(report_r)
    finally:
        os.close(report_r)
    if data:
        if master is not None:
            os.close(master)
        _reap(pid)
        raise_report(data, ((spec.get("process") or {}).get("args") or [""])[0])
    if master is not None:
        os.set_blocking(master, False)
    return Spawned(pid, master)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            b = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _write_report(fd: int, kind: str, msg: str) -> None:
    try:
        os.write(fd, json.dumps({"kind": kind, "msg": msg}).encode())
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        parts = [exc.strerror or str(exc)]
        if exc.filename:
            parts.append(str(exc.filename))
        return "container init: " + ": ".join(parts)
    return f"container init: {exc}"


# --- inside the new process -----------------------------------------------------------------

def _await_cgroup(joined_r: int) -> None:
    """Block until the parent has moved this process into its cgroup (launcher.spawn)."""
    data = _read_all(joined_r)
    os.close(joined_r)
    if data[:1] != b"1":
        raise RuntimeFailure(f"cannot join the container's cgroup: {data[1:].decode(errors='replace') or 'the launcher died'}")


def _child(spec: dict[str, Any], opts: dict[str, Any], stdio: tuple[int, int, int], report_w: int,
           console: socket.socket | None, cgroup_join: Callable[[], None] | None,
           sec: security.ProcessSecurity | None = None, joined_r: int = -1) -> None:
    seal_imports()
    os.setsid()
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)
    # Before anything of the container is visible to this process: /proc/<pid>/exe of a
    # non-dumpable process cannot be opened by the container (the host's python stays safe).
    sc.set_dumpable(False)
    if cgroup_join is not None:
        cgroup_join()
    process = spec.get("process") or {}
    linux = spec.get("linux") or {}
    ns = namespaces_of(spec)
    for kind in ("network", "ipc", "uts", "cgroup", "mount"):
        path = ns.get(kind)
        if kind in ns and path:
            flag = sc.NAMESPACES[kind][0]
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, flag)
            except OSError as exc:
                raise RuntimeFailure(f"cannot join the {kind} namespace {path}: {exc.strerror}") from exc
            finally:
                os.close(fd)
    flags = 0
    for kind in ("network", "ipc", "uts", "cgroup", "mount"):
        if kind in ns and not ns[kind]:
            flags |= sc.NAMESPACES[kind][0]
    if flags & sc.CLONE_NEWCGROUP and not os.path.exists("/proc/self/ns/cgroup"):
        flags &= ~sc.CLONE_NEWCGROUP
    late_cgroupns = flags & sc.CLONE_NEWCGROUP if joined_r >= 0 else 0
    sc.unshare(flags & ~late_cgroupns)
    waiting = [joined_r >= 0]

    def enter_cgroup() -> None:
        """The cgroup joined, then (if asked) its namespace: rooted at the container's cgroup."""
        if waiting[0]:
            waiting[0] = False
            _await_cgroup(joined_r)
            if late_cgroupns:
                sc.unshare(late_cgroupns)

    root = (spec.get("root") or {}).get("path")
    if not root:
        raise RuntimeFailure("the OCI spec has no root.path")
    pty_slave = None
    if "mount" in ns and not ns["mount"]:
        pty_slave = _setup_rootfs(spec, root, console, enter_cgroup)
    else:
        enter_cgroup()
        os.chroot(root)  # a shared mount namespace: the rootfs is already in place
    enter_cgroup()
    if ns.get("uts", "x") is None and spec.get("hostname"):
        socket.sethostname(_check_hostname(spec["hostname"]))
    for name, value in (linux.get("sysctl") or {}).items():
        _write_sysctl(name, value)  # before /proc/sys turns read-only
    _after_pivot(spec, linux)
    for rl in process.get("rlimits") or []:
        res = _RLIMITS.get(rl.get("type", ""))
        if res is None:
            raise RuntimeFailure(f"unknown rlimit {rl.get('type')!r}")
        try:
            resource.setrlimit(res, (int(rl["soft"]), int(rl["hard"])))
        except (ValueError, OSError) as exc:
            raise RuntimeFailure(f"cannot set {rl['type']} to {rl['soft']}:{rl['hard']}: {exc} "
                                 f"(the current limit is {resource.getrlimit(res)})") from exc
    cwd = process.get("cwd") or "/"
    _ensure_cwd(cwd)
    if (spec.get("root") or {}).get("readonly"):
        mounts.remount_readonly("/")
    if pty_slave is not None:
        for target in (0, 1, 2):
            os.dup2(pty_slave, target)
        if pty_slave > 2:
            os.close(pty_slave)
        fcntl.ioctl(0, TIOCSCTTY, 0)

    args = [str(a) for a in process.get("args") or []]
    if not args:
        raise _Report("failure", "the OCI spec has no process.args")
    env = [str(e) for e in process.get("env") or []]
    if sec is None:
        sec = security.prepare(process, linux)
    sec.early()
    sec.set_identity()
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise _Report("failure", f"chdir to cwd ({cwd!r}) set in config.json failed: {exc.strerror}") from exc
    path = lookpath(args[0], env)
    init = bool(opts.get("init"))
    if init:
        _mask_all_signals()
    sec.lock_down()  # capabilities, no_new_privs, seccomp: nothing privileged after this
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
    if init:
        _run_reaper(path, args, env, report_w)
    _exec(path, args, env)


def seal_imports() -> None:
    """From here on, no module may be loaded from a file (nor a library with dlopen).

    After pivot_root (or setns into a container's mount namespace) a path such as
    /usr/lib/python3/... or the engine copy's own path names a file of the image: an import
    that was left lazy would run the image's code as root with every capability. Everything
    the launcher needs is imported before the fork; anything forgotten fails loudly instead.
    """
    import importlib.machinery as m

    sys.meta_path[:] = [f for f in sys.meta_path if f in (m.BuiltinImporter, m.FrozenImporter)]
    sys.path[:] = []
    sys.path_importer_cache.clear()


def _setup_rootfs(spec: dict[str, Any], root: str, console: socket.socket | None,
                  enter_cgroup: Callable[[], None] = lambda: None) -> int | None:
    linux = spec.get("linux") or {}
    prop = mounts.parse_options([linux.get("rootfsPropagation") or "rslave"])[1]
    sc.mount(None, "/", None, prop)
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    sc.mount(None, root, None, sc.MS_PRIVATE)
    rootfs = mounts.Rootfs(root)
    pty_slave = None
    try:
        has_dev = False
        for m in spec.get("mounts") or []:
            if m.get("type") in ("cgroup", "cgroup2"):
                enter_cgroup()  # cgroupfs shows the namespace it is mounted from
            mounts.mount_one(rootfs, m, [])
            if mounts._norm(m.get("destination", "")) == "/dev":
                has_dev = True
        if has_dev:
            mounts.make_devices(rootfs, linux.get("devices") or [])
            mounts.make_dev_links(rootfs)
        if console is not None:
            pty_slave = _make_console(rootfs, console)
        os.fchdir(rootfs.fd)
    finally:
        rootfs.close()
    # Stack the old root under the new one, then detach it: nothing of the host stays visible.
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    return pty_slave


def _make_console(rootfs: mounts.Rootfs, console: socket.socket) -> int:
    """A pty from the container's own devpts: the master goes to the monitor, the slave stays."""
    dfd = rootfs.open_target("/dev/pts", True)
    try:
        master = os.open("ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dfd)
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
        slave = os.open(str(n), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dfd)
    finally:
        os.close(dfd)
    cfd = rootfs.open_target("/dev/console", False)
    try:
        sc.mount(sc.proc_fd_path(slave), sc.proc_fd_path(cfd), None, sc.MS_BIND)
    finally:
        os.close(cfd)
    socket.send_fds(console, [b"m"], [master])
    os.close(master)
    console.close()
    return slave


def _after_pivot(spec: dict[str, Any], linux: dict[str, Any]) -> None:
    for p in linux.get("maskedPaths") or []:
        mounts.mask_path(p)
    for p in linux.get("readonlyPaths") or []:
        mounts.readonly_path(p)


def _check_hostname(name: str) -> str:
    ok = len(name) <= 253 and all(
        re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in name.split("."))
    if not ok:
        raise RuntimeFailure(f"invalid hostname {name!r}: not a valid RFC 1123 host name", hostname=name)
    return name


def _write_sysctl(name: str, value: str) -> None:
    if "/" in name or name.startswith(".") or ".." in name:
        raise RuntimeFailure(f"invalid sysctl name {name!r}", sysctl=name)
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(f"sysctl {name!r}: {exc.strerror}", sysctl=name) from exc
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _ensure_cwd(cwd: str) -> None:
    """Docker creates a missing working directory (owned by root, 0755) at start."""
    if not cwd.startswith("/"):
        raise RuntimeFailure(f"cwd {cwd!r} must be an absolute path", cwd=cwd)
    try:
        os.makedirs(cwd, 0o755, exist_ok=True)
    except FileExistsError as exc:
        raise _Report("failure", f"cwd {cwd!r} exists and is not a directory") from exc
    except OSError:
        pass  # read-only rootfs and the like: chdir reports it with the reason


def lookpath(name: str, env: list[str]) -> str:
    """Find ``name`` as Go's exec.LookPath would inside the container (paths are pivoted)."""
    if "/" in name:
        _check_executable(name, name)
        return name
    path = DEFAULT_PATH
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    denied = None
    for d in path.split(":"):
        cand = os.path.join(d or ".", name)
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if st.st_mode & 0o111:
            return cand
        denied = cand
    if denied is not None:
        raise _Report("not_invokable", f'exec: "{name}": permission denied')
    raise _Report("not_found", f'exec: "{name}": executable file not found in $PATH')


def _check_executable(path: str, name: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise _Report("not_found", f'exec: "{name}": stat {path}: no such file or directory') from exc
    except OSError as exc:
        raise _Report("not_invokable", f'exec: "{name}": {(exc.strerror or "").lower()}') from exc
    if stat.S_ISDIR(st.st_mode):
        raise _Report("not_invokable", f'exec: "{name}": is a directory')


def _exec(path: str, args: list[str], env: list[str]) -> None:
    envd = {}
    for e in env:
        k, _, v = e.partition("=")
        envd[k] = v
    try:
        os.execve(path, args, envd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise _Report("not_found", f'exec: "{args[0]}": no such file or directory') from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR):
            raise _Report("not_invokable", f'exec: "{args[0]}": {(exc.strerror or "").lower()}') from exc
        raise _Report("failure", f'exec: "{args[0]}": {exc.strerror}') from exc


# --- --init: a reaper as pid 1 ----------------------------------------------------------------

_FORWARD = [s for s in signal.valid_signals()
            if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD) and s < signal.SIGRTMIN]


def _mask_all_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())


def _run_reaper(path: str, args: list[str], env: list[str], report_w: int) -> None:
    """Pid 1 with --init: forward signals to the command, reap every orphan, exit as it exits.

    This is the launcher process itself, already inside the container's namespaces, with the
    container's user, capabilities, no_new_privs and seccomp filter, non-dumpable (so no
    process in the container can open its /proc/1/exe or /proc/1/mem), and holding no
    descriptor but 0-2: it offers nothing that the command itself does not already have.
    """
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        _exec(path, args, env)
    os.close(report_w)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for s in _FORWARD + [signal.SIGCHLD]:
        try:
            signal.signal(s, _noop)  # pid 1 only receives signals it handles
        except (OSError, ValueError):
            pass
    while True:
        info = signal.sigwaitinfo(signal.valid_signals())
        if info.si_signo != signal.SIGCHLD:
            try:
                os.kill(child, info.si_signo)
            except ProcessLookupError:
                pass
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                os._exit(128 - code if code < 0 else code)


def _noop(_sig: int, _frame: Any) -> None:
    pass


def exit_code_of(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if sys.platform != "linux":  # pragma: no cover
    raise ImportError("the berth runtime needs Linux")
