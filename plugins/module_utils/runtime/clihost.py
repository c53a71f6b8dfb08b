"""The monitor server's side of the berth command's fast path (cli/fastpath.py is the client).

The server has the whole engine imported, so a command can run in a child forked from it
instead of in a new interpreter. Request {"op": "cli", "hash", "argv", "env", "umask", "ns"} with
four descriptors (the client's stdin, stdout, stderr and working folder): the server answers
{"pid": N} once the child runs, then {"exit": code} or {"signal": n} when it has ended. While
it runs the client may send {"signal": n} (forwarded to the child); a client that goes away
has its child killed. Anything refused before the fork ({"error": ...}) leaves the client free
to run the command itself, since nothing was done. {"op": "task", "task", "params", "apply", ...}
runs an Ansible module's task the same way (tasks.answer_warm writes its answer on stdout).
"""
from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import sys
from typing import Any

from . import protocol as proto
from . import syscalls as sc

# Set in the child's environment: tests (and a curious user) can tell a command ran warm.
MARK_ENV = "BERTH_FASTPATH_CHILD"
CHILD_NAME = "berth-fastpath"   # the child's comm, what ps shows
_UCRED = struct.Struct("3i")


# What the allowed commands import on their way (seen in children of a server that did not
# have them): without them each child imports, and here often compiles, them again.
COMMAND_DEPENDENCIES = (
    "engine", "units", "reference", "cli.output", "cli.gotemplate", "cli.gofmt",
    "containers.service", "containers.options", "containers.inspect", "containers.listing",
    "containers.networking", "containers.exitcleanup", "runtime.service", "runtime.defaults",
    "store.content", "store.images", "store.imageview", "store.snapshots", "store.layers",
    "store.oci", "store.tarstream", "store.layerdiff", "network.service", "network.filters",
    "network.ipam", "network.nat", "network.portmap", "volumes.service",
)


def preload() -> None:
    """Import the commands the fast path runs and the modules' warm tasks (and what they import),
    so each child starts with them loaded, in pages shared with the server, instead of importing
    them again."""
    import importlib

    from ..cli import fastpath, main

    base = __name__.rsplit(".", 2)[0]
    names = {f"cli.{main.COMMAND_MODULES[k]}" for k in fastpath.ALLOWED if k in main.COMMAND_MODULES}
    from ..tasks import WARM_MODULES

    for name in (*sorted(names), *COMMAND_DEPENDENCIES, *WARM_MODULES):
        with contextlib.suppress(Exception):
            importlib.import_module(f"{base}.{name}")
    for name in ("glob", "queue", "unicodedata", "pkgutil", "shlex"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class CliRun:
    """One command running in a child of the server, and the client connection waiting for it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.reader = proto.FrameReader()
        self.registered = True


def start(server: Any, conn: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
    """Fork a child running the command of ``req``, or refuse before anything is done."""
    refusal = _refusal(server, conn, req, fds)
    if refusal is not None:
        for fd in fds:
            os.close(fd)
        server._reply(conn, {"error": refusal})
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(server, conn, req, fds)
        except BaseException:  # noqa: BLE001 - never return into the server's loop
            import traceback

            with contextlib.suppress(OSError):
                os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    run = CliRun(conn)
    server.cli[pid] = run
    try:
        conn.sendall(proto.control({"pid": pid}))
    except OSError:
        # The client left already: nobody waits for this command.
        _kill(pid, signal.SIGKILL)
    conn.setblocking(False)
    server.sel.register(conn, selectors.EVENT_READ, ("cli", pid))


def _refusal(server: Any, conn: socket.socket, req: dict[str, Any], fds: list[int]) -> str | None:
    if req.get("hash") != server.hash:
        return "stale"  # never run another version of the command than the client's
    try:
        _pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        _UCRED.size))
    except OSError:
        return "no peer credentials"
    if uid != 0:
        return f"uid {uid} is not root"  # the child would run with the server's (root) rights
    if req.get("ns") != _namespaces():
        return "another set of namespaces"
    if len(fds) != 4:
        return f"{len(fds)} descriptors instead of stdin, stdout, stderr and the working folder"
    if not isinstance(req.get("env"), dict):
        return "env is required"
    if req.get("op") == "task":
        if not isinstance(req.get("task"), str) or not isinstance(req.get("params"), dict):
            return "task and params are required"
    elif not isinstance(req.get("argv"), list):
        return "argv is required"
    return None


def _namespaces() -> dict[str, int]:
    from ..cli.fastpath import namespaces

    return namespaces()


def readable(server: Any, pid: int) -> None:
    """A client's frame ({"signal": n}) or its end of the connection."""
    run = server.cli.get(pid)
    if run is None:
        return
    data = proto.recv_ready(run.conn)
    if data is None:
        return
    if not data:
        # The client died (a forwarded signal would have come first): so does its command.
        _unregister(server, run)
        _kill(pid, signal.SIGKILL)
        return
    try:
        frames = run.reader.feed(data)
    except ValueError:
        frames = []
    for kind, payload in frames:
        if kind != proto.CONTROL:
            continue
        import json

        with contextlib.suppress(ValueError, TypeError):
            sig = int(json.loads(payload).get("signal"))
            if sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                _kill(pid, sig)


def exited(server: Any, pid: int, status: int) -> None:
    """The child ended: tell its client how, the way the client's own process would end."""
    run = server.cli.pop(pid)
    _unregister(server, run)
    reply = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status)
             else {"exit": os.waitstatus_to_exitcode(status)})
    with contextlib.suppress(OSError):
        run.conn.setblocking(True)
        run.conn.settimeout(1.0)
        run.conn.sendall(proto.control(reply))
    run.conn.close()


def _unregister(server: Any, run: CliRun) -> None:
    if run.registered:
        run.registered = False
        with contextlib.suppress(KeyError, ValueError, OSError):
            server.sel.unregister(run.conn)


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)  # not yet reaped (only the server reaps it): the pid is still ours


def close_in_child(server: Any) -> None:
    """In any child of the server: drop the connections of commands running in other children."""
    for run in server.cli.values():
        run.conn.close()
    server.cli.clear()


def _child(server: Any, conn: socket.socket, req: dict[str, Any], fds: list[int]) -> int:
    # Nothing of the server's may stay with the command: its signal handling, its listening
    # socket (a command outliving a dead server must not keep it accepting), other clients'
    # connections, the pipes it holds for containers.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server.sel.close()
    if server.listener is not None:
        server.listener.close()
    close_in_child(server)
    for entry in server.kept.values():
        for fd in entry["fds"]:
            with contextlib.suppress(OSError):
                os.close(fd)
    server.kept.clear()
    for fd in server.wake_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    conn.close()
    with contextlib.suppress(OSError):
        sc.set_name(CHILD_NAME)

    os.fchdir(fds[3])
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)  # inheritable: containers and helpers get them as the local path's
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.umask(int(req.get("umask", 0o022)) & 0o777)
    env = {str(k): str(v) for k, v in req["env"].items()}
    env[MARK_ENV] = str(os.getpid())
    os.environ.clear()
    os.environ.update(env)
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # type: ignore[attr-defined] # from TMPDIR again
    import time

    time.tzset()  # local times in the client's TZ, as its own interpreter would read it
    _fresh_stdio()
    if req.get("op") == "task":  # an Ansible module's task (_ansible.py): its answer on stdout
        _seed_engine_copy(server, [])
        from ..tasks import answer_warm

        return _flush_stdio(answer_warm(req))
    argv = [str(a) for a in req["argv"]]
    sys.argv = ["berth", *argv]
    _seed_engine_copy(server, argv)

    from ..cli import main as climain

    try:
        code = climain.main()
    except SystemExit as exc:  # what the interpreter would make of it
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        code = 130
    return _flush_stdio(code)


def _fresh_stdio() -> None:
    """Python's stdio objects for the client's descriptors, buffered as an interpreter would."""
    tty = os.isatty(1)
    sys.stdin = open(0, encoding="utf-8", errors="strict", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="strict", closefd=False,  # noqa: SIM115
                      buffering=-1, newline=None)
    if tty:
        sys.stdout.reconfigure(line_buffering=True)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                      closefd=False, newline=None)
    sys.stderr.reconfigure(line_buffering=True)


def _flush_stdio(code: int) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            pass
        except OSError:
            code = code or 120  # as the interpreter reports a failed flush at exit
    return code


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)
    return 1


def _seed_engine_copy(server: Any, argv: list[str]) -> None:
    """The command's engine copy is the one this server runs from (same hash): tell install.py,
    which would otherwise fingerprint and hash the copy's own files to learn what it knows."""
    from ..cli.main import _split_globals
    from ..paths import Paths
    from . import install

    with contextlib.suppress(SystemExit, Exception):
        opts, _rest = _split_globals(list(argv))
        paths = Paths.from_env(opts.get("root"), opts.get("run"))
        base = paths.engine_copies / server.hash
        if (base / ".complete").exists():
            install._copies[str(paths.engine_copies)] = (server.hash, base)
