"""`exec`: run another process inside a running container.

The caller forks a helper that makes itself non-dumpable, joins the container's cgroup, opens
every namespace of the container's init (/proc/<pid>/ns/*) and enters them with setns; a pid
namespace only applies to children, so the helper forks the process that becomes the command,
and waits for it to relay its exit status (unless detached). That process takes the process
spec's user, capabilities, no_new_privs and the container's seccomp filter, changes to the
working directory inside the container, closes every other descriptor and exec's. Errors come
back through a close-on-exec pipe, as for the container's own start.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
from typing import Any

from . import cgbridge, launcher, security
from . import syscalls as sc
from .execrecords import record as _record

# Joined in this order; the mount namespace last, because entering it changes what /proc is.
_NS_ORDER = ("cgroup", "ipc", "uts", "net", "pid", "mnt")
_NS_FLAGS = {"cgroup": sc.CLONE_NEWCGROUP, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS,
             "net": sc.CLONE_NEWNET, "pid": sc.CLONE_NEWPID, "mnt": sc.CLONE_NEWNS}


def run(spec: dict[str, Any], cid: str, init_pid: int, process: dict[str, Any], tty: bool = False,
        interactive: bool = False, detach: bool = False, stdin: int | None = None,
        stdout: int | None = None, stderr: int | None = None,
        record_dir: str | os.PathLike[str] | None = None) -> int:
    """Run ``process`` in the container; with ``record_dir`` (the container's run dir) the
    session shows in ExecIDs while it runs."""
    process = process_for_exec(spec, process)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    psock, csock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if tty else (None, None)
    ns_fds = _open_namespaces(init_pid)
    cg = cgbridge.for_spec(spec, cid)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(report_r)
            if psock is not None:
                psock.close()
            code = _helper(spec, process, ns_fds, cg, tty, interactive, detach,
                           (stdin, stdout, stderr), report_w, csock)
        except launcher._Report as exc:
            code = {"not_found": 127, "not_invokable": 126}.get(exc.kind, 1)
            launcher._write_report(report_w, exc.kind, exc.msg)
        except BaseException as exc:  # noqa: BLE001 - the caller must hear about anything
            launcher._write_report(report_w, "failure", launcher._describe(exc))
        finally:
            os._exit(code)
    for fd in ns_fds.values():
        os.close(fd)
    os.close(report_w)
    record = None if detach else _record(record_dir, pid)
    try:
        return _finish(pid, psock, csock, report_r, process, detach, interactive, stdin, stdout)
    finally:
        if record is not None:
            with contextlib.suppress(OSError):
                os.unlink(record)


def _finish(pid: int, psock: socket.socket | None, csock: socket.socket | None, report_r: int,
            process: dict[str, Any], detach: bool, interactive: bool, stdin: int | None,
            stdout: int | None) -> int:
    master = None
    try:
        if psock is not None and csock is not None:
            csock.close()
            try:
                _m, fds, _f, _a = socket.recv_fds(psock, 16, 1)
                master = fds[0] if fds else None
            finally:
                psock.close()
        data = launcher._read_all(report_r)
    finally:
        os.close(report_r)
    if data:
        if master is not None:
            os.close(master)
        os.waitpid(pid, 0)
        launcher.raise_report(data, (process.get("args") or [""])[0])
    try:
        if master is not None and not detach:
            from .console import pump_pty

            pump_pty(master, stdin if interactive else None, stdout)
    finally:
        if master is not None:
            os.close(master)
    _, status = os.waitpid(pid, 0)
    return 0 if detach else launcher.exit_code_of(status)


INHERITED = ("user", "cwd", "env", "capabilities", "noNewPrivileges", "rlimits")


def process_for_exec(spec: dict[str, Any], process: dict[str, Any]) -> dict[str, Any]:
    """What `docker exec` runs with: the container's user, working directory, environment and
    privileges, unless the exec says otherwise (an empty capability set is never guessed)."""
    base = spec.get("process") or {}
    out = {k: base[k] for k in INHERITED if k in base}
    out.update({k: v for k, v in process.items() if v is not None})
    return out


def _open_namespaces(pid: int) -> dict[str, int]:
    fds: dict[str, int] = {}
    try:
        for name in _NS_ORDER:
            path = f"/proc/{pid}/ns/{name}"
            if name == "cgroup" and not os.path.exists(path):
                continue
            fds[name] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def _helper(spec: dict[str, Any], process: dict[str, Any], ns_fds: dict[str, int],
            cg: cgbridge.ContainerCgroup, tty: bool, interactive: bool, detach: bool,
            stdio: tuple[int | None, int | None, int | None], report_w: int,
            console: socket.socket | None) -> int:
    sc.set_dumpable(False)
    launcher.seal_imports()
    devnull = os.open(os.devnull, os.O_RDWR)
    wanted = (stdio[0] if interactive and not tty else None, stdio[1], stdio[2])
    for target, fd in enumerate(wanted):
        os.dup2(fd if fd is not None and not tty and not detach else devnull, target)
    if tty or detach:
        for target in (0, 1, 2):
            os.dup2(devnull, target)
    os.close(devnull)
    cg.join()
    for name in _NS_ORDER:
        fd = ns_fds.get(name)
        if fd is None:
            continue
        own = os.readlink(f"/proc/self/ns/{name}") if name != "mnt" else None
        target = os.readlink(f"/proc/self/fd/{fd}")
        if own == target:
            continue  # e.g. --network host: setns into one's own namespace is refused for user
        sc.setns(fd, _NS_FLAGS[name])
        os.close(fd)
    child = os.fork()
    if child == 0:
        _command(spec, process, tty, console, report_w)
    os.close(report_w)
    if console is not None:
        console.close()
    if detach:
        return 0
    while True:
        try:
            _, status = os.waitpid(child, 0)
            return launcher.exit_code_of(status)
        except InterruptedError:
            continue


def _command(spec: dict[str, Any], process: dict[str, Any], tty: bool, console: socket.socket | None,
             report_w: int) -> None:
    os.setsid()
    if tty and console is not None:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, launcher.TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, launcher.TIOCGPTN, b"\0\0\0\0"))[0]
        slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        socket.send_fds(console, [b"m"], [master])
        os.close(master)
        console.close()
        for target in (0, 1, 2):
            os.dup2(slave, target)
        os.close(slave)
        fcntl.ioctl(0, launcher.TIOCSCTTY, 0)
    args = [str(a) for a in process.get("args") or []]
    if not args:
        raise launcher._Report("failure", "exec: no command given")
    env = [str(e) for e in process.get("env") or []]
    cwd = process.get("cwd") or "/"
    sec = security.prepare(process, spec.get("linux") or {})
    sec.early()
    sec.set_identity()
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise launcher._Report("failure", f"exec: cannot change to the working directory {cwd!r}: "
                                          f"{exc.strerror}") from exc
    path = launcher.lookpath(args[0], env)
    sec.lock_down()
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
    launcher._exec(path, args, env)
