"""The monitor server: one small Python process per BERTH_RUN that forks the monitors.

It runs from the stable engine copy (install.py), imports what monitors and the launcher
need, freezes those objects out of the garbage collector's reach (gc.freeze) and then forks one
monitor per container on request, so monitors share the interpreter's pages instead of paying
for an interpreter each. It is no manager: killing it affects no running container, and the
next command starts a new one. It is the child subreaper of the monitors' subtree, so when a
monitor dies its container becomes the server's child and the server records its exit status
in run/containers/<id>/exit.json. It leaves after IDLE_SECONDS without any child.

Requests on run/monitor.sock (one CONTROL frame): {"op": "spawn", "cid", "hash", "attach"}
hands the connection to a new monitor, which answers {"pid"} or {"error", "kind"};
{"op": "hello"} answers {"hash", "pid"}; {"op": "cli"} runs a berth command in a child
(clihost.py, the command's fast path), {"op": "task"} an Ansible module's task.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from typing import Any

from .. import fsutil
from ..paths import Paths
from . import cgbridge, clihost, launcher, logs, monitor, mounts, security, state  # noqa: F401 - preloaded
from . import protocol as proto
from . import syscalls as sc

IDLE_SECONDS = 120.0
SERVICE_MODULES = ("network.dns",)
# Modules whose SERVER_CALLS table the server runs for commands (Runtime.server_call), so a
# command never imports their heavy libraries itself; each may define server_warm_up().
CALL_MODULES = ("network.bridge",)
SOCKET_NAME = "monitor.sock"


def socket_path(paths: Paths) -> str:
    return str(paths.run / SOCKET_NAME)


def _preload() -> None:
    """Import now what monitors would import later, so the pages are shared after fork."""
    import json  # noqa: F401
    import termios  # noqa: F401

    from . import caps, console, health  # noqa: F401
    from . import exec as _exec  # noqa: F401 - health probes enter containers as exec does
    with contextlib.suppress(ImportError):
        from . import seccomp  # noqa: F401
    with contextlib.suppress(ImportError):
        from . import cgroups  # noqa: F401
    base = __name__.rsplit(".", 2)[0]
    for name in SERVICE_MODULES:  # per-container services monitors may run (by name: no import ties)
        with contextlib.suppress(Exception):
            importlib.import_module(f"{base}.{name}")
    for name in CALL_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(f"{base}.{name}")  # their heavy libraries: at the first call
    with contextlib.suppress(Exception):
        clihost.preload()
    _warm_up()


def _warm_up() -> None:
    """Run once what every monitor would otherwise initialise for itself (the JSON scanner,
    the host's cgroup layout), so those first-use caches live in pages shared by all."""
    import json

    json.loads(json.dumps({"a": [1, "b", None, True, 1.5]}))
    with contextlib.suppress(Exception):
        cgbridge._host_layout()
    state.now_rfc3339()


class Server:
    def __init__(self, paths: Paths, engine_hash: str) -> None:
        self.paths = paths
        self.hash = engine_hash
        self.children: dict[int, str] = {}
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.sock_ino = 0
        self.last_busy = time.monotonic()
        self.store = state.StateStore(paths)
        self.kept: dict[str, dict[str, Any]] = {}
        self.warmed: dict[str, bool] = {}   # CALL_MODULES whose server_warm_up ran
        self.cli: dict[int, clihost.CliRun] = {}   # commands running in children (fast path)
        self.wake_fds: tuple[int, ...] = ()

    def bind(self) -> None:
        path = socket_path(self.paths)
        fsutil.ensure_dir(self.paths.run, 0o711)
        tmp = f"{path}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        proto.bind(s, tmp)
        os.chmod(tmp, 0o600)
        s.listen(64)
        os.replace(tmp, path)  # atomic: clients see the old server's socket or ours
        self.sock_ino = os.stat(path).st_ino
        fsutil.atomic_write(self.paths.run / "monitor.pid",
                            f"{os.getpid()} {state.proc_start_time(os.getpid())}\n", durable=False)
        s.setblocking(False)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, "accept")

    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_fds = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(wake_r, selectors.EVENT_READ, "sigchld")
        gc.collect()
        gc.freeze()  # everything so far is shared with every monitor; keep the collector off it
        while True:
            for key, _ in self.sel.select(5.0):
                if key.data == "sigchld":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    self._reap()
                elif isinstance(key.data, tuple):
                    clihost.readable(self, key.data[1])
                else:
                    self._accept()
            self._reap()
            if self.children or self.cli:
                self.last_busy = time.monotonic()
            elif time.monotonic() - self.last_busy > IDLE_SECONDS or not self._still_current():
                self._leave()
                return

    def _still_current(self) -> bool:
        """False once a newer server took the socket (another engine version)."""
        try:
            return os.stat(socket_path(self.paths)).st_ino == self.sock_ino
        except FileNotFoundError:
            return False

    def _leave(self) -> None:
        if self.listener is not None:
            if self._still_current():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(socket_path(self.paths))
            self.listener.close()

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        self.last_busy = time.monotonic()
        conn.setblocking(True)
        conn.settimeout(5.0)
        fds: list[int] = []
        try:
            req, fds = _recv_request(conn)
        except (OSError, ValueError):
            req = None
        if req is None:
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        op = req.get("op")
        if op == "keep":
            self._keep(conn, req, fds)
            return
        if op == "unkeep":
            self._unkeep(conn, req)
            return
        if op in ("cli", "task"):
            clihost.start(self, conn, req, fds)
            return
        for fd in fds:
            os.close(fd)
        if op == "hello":
            self._reply(conn, {"hash": self.hash, "pid": os.getpid()})
        elif op == "call":
            if req.get("hash") and req["hash"] != self.hash:
                self._reply(conn, {"error": "stale", "hash": self.hash})
                return
            self._call(conn, req)
        elif op == "spawn":
            if req.get("hash") and req["hash"] != self.hash:
                self._reply(conn, {"error": "stale", "hash": self.hash})
                return
            self._spawn(conn, req)
        else:
            self._reply(conn, {"error": f"unknown request {op!r}"})

    def _call(self, conn: socket.socket, req: dict[str, Any]) -> None:
        if req.get("module") in CALL_MODULES and not self.warmed.get(req["module"]):
            # The module's heavy library (pyroute2, ~110 ms) is imported at its first call, not
            # at the server's start: a server that only launches `--network none` containers
            # never pays for it. Then, as for the preloaded modules, its objects are frozen out
            # of the collector's reach so that monitors forked later share their pages.
            self.warmed[req["module"]] = True
            with contextlib.suppress(Exception):  # a missing library fails the call itself
                warm = getattr(_call_module(str(req["module"])), "server_warm_up", None)
                if warm is not None:
                    warm()
            gc.collect()
            gc.freeze()
        if req.get("module") in CALL_MODULES and req.get("fn") in _reply_first(str(req["module"])):
            self._reply(conn, {"result": None})
            reply = _run_call(req)
            if "error" in reply:
                print(f"berth-monitors: {reply['error']}", file=sys.stderr, flush=True)
            return
        self._reply(conn, _run_call(req))

    def _reply(self, conn: socket.socket, obj: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(proto.control(obj))
        conn.close()

    def _spawn(self, conn: socket.socket, req: dict[str, Any]) -> None:
        from ..types import check_hex_id

        try:
            cid = check_hex_id(str(req.get("cid")), "container id")
        except Exception as exc:  # noqa: BLE001
            self._reply(conn, {"error": str(exc), "kind": "InvalidSpec"})
            return
        kept = self.kept.pop(cid, None) if req.get("adopt") else None
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                self.sel.close()
                if self.listener is not None:
                    # A monitor must not keep the server's socket listening after the server died.
                    self.listener.close()
                clihost.close_in_child(self)
                conn.settimeout(None)
                for other, entry in self.kept.items():  # only the adopter's own pipes stay open
                    if other != cid:
                        for fd in entry["fds"]:
                            os.close(fd)
                code = monitor.run_monitor(self.paths, cid, conn, req, kept)
            except BaseException:  # noqa: BLE001 - never return into the server's loop
                import traceback

                with contextlib.suppress(OSError):
                    os.write(2, f"berth-monitor {cid[:12]}: {traceback.format_exc()}\n".encode())
            finally:
                os._exit(code)
        self.children[pid] = cid
        conn.close()
        if kept is not None:
            for fd in kept["fds"]:
                os.close(fd)

    def _keep(self, conn: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
        """Hold a container's stdio pipes for as long as its monitor may die.

        A pipe with no reader kills the writer with SIGPIPE: while the server holds the read
        ends, a container whose monitor died only blocks once the pipe is full, and the
        monitor that adopts it inherits them.
        """
        cid = str(req.get("cid"))
        old = self.kept.pop(cid, None)
        if old is not None:
            for fd in old["fds"]:
                os.close(fd)
        roles = [str(r) for r in req.get("roles") or []]
        if len(roles) != len(fds):
            for fd in fds:
                os.close(fd)
            self._reply(conn, {"error": "roles and descriptors do not match"})
            return
        self.kept[cid] = {"monitor": int(req.get("monitor") or 0), "fds": fds, "roles": roles}
        self._reply(conn, {"ok": True})

    def _unkeep(self, conn: socket.socket, req: dict[str, Any]) -> None:
        """Close our copy of one of a container's pipes: its stdin reached EOF, and the
        container only sees that once every copy of the write end is closed."""
        entry = self.kept.get(str(req.get("cid")))
        role = str(req.get("role"))
        if entry is not None:
            keep = [(fd, r) for fd, r in zip(entry["fds"], entry["roles"], strict=True) if r != role]
            for fd, r in zip(entry["fds"], entry["roles"], strict=True):
                if r == role:
                    os.close(fd)
            entry["fds"], entry["roles"] = [k[0] for k in keep], [k[1] for k in keep]
        self._reply(conn, {"ok": True})

    def _release(self, monitor_pid: int, status: int) -> None:
        """A monitor left: if it ended on purpose its container is gone, so are the pipes."""
        if os.WIFSIGNALED(status):
            return  # killed: its container may live on, to be adopted
        for cid, entry in list(self.kept.items()):
            if entry["monitor"] == monitor_pid:
                for fd in self.kept.pop(cid)["fds"]:
                    os.close(fd)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.cli:
                clihost.exited(self, pid, status)
            elif self.children.pop(pid, None) is None:
                self._orphan_exited(pid, status)
            else:
                self._release(pid, status)

    def _orphan_exited(self, pid: int, status: int) -> None:
        """A container whose monitor died has exited: keep its status for reconciliation."""
        code = launcher.exit_code_of(status)
        base = self.paths.containers
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return
        for cid in names:
            try:
                st = self.store.read(cid)
            except Exception:  # noqa: BLE001 - not a container folder, or a torn file
                continue
            if st.pid == pid and st.active:
                with contextlib.suppress(OSError):
                    self.store.write_exit(cid, code, False, pid)
                entry = self.kept.get(cid)
                if entry is not None and not any(c == cid for c in self.children.values()):
                    self._drain_kept(cid)
                return

    def _drain_kept(self, cid: str) -> None:
        """Nobody adopted the container before it died: log what its pipes still hold."""
        entry = self.kept.pop(cid)
        try:
            opts = fsutil.read_json(self.store.run_dir(cid) / "options.json", default={}) or {}
            lp = opts.get("log") or {}
            writer = logs.LogWriter(lp["path"], lp.get("max_size"), lp.get("max_file") or 1) \
                if lp.get("path") else None
        except Exception:  # noqa: BLE001 - the pipes are closed whatever happens
            writer = None
        for fd, role in zip(entry["fds"], entry["roles"], strict=True):
            if writer is not None and role in ("stdout", "stderr", "pty"):
                os.set_blocking(fd, False)
                with contextlib.suppress(OSError):
                    while True:
                        data = os.read(fd, 65536)
                        if not data:
                            break
                        writer.write("stdout" if role == "pty" else role, data)
            os.close(fd)
        if writer is not None:
            writer.close()


def _call_module(name: str) -> Any:
    return importlib.import_module(f"{__name__.rsplit('.', 2)[0]}.{name}")


def _reply_first(module: str) -> tuple[str, ...]:
    with contextlib.suppress(Exception):
        return tuple(getattr(_call_module(module), "SERVER_REPLY_FIRST", ()))
    return ()


def _run_call(req: dict[str, Any]) -> dict[str, Any]:
    """One entry of a CALL_MODULES module's SERVER_CALLS, run here, in the server's loop (the
    calls are short netlink exchanges; forking for each would cost more than the work)."""
    from ..errors import BerthError

    module, fn = req.get("module"), req.get("fn")
    if module not in CALL_MODULES:
        return {"error": f"the monitor server runs no calls of module {module!r}", "kind": "InvalidSpec"}
    try:
        table = _call_module(str(module)).SERVER_CALLS
        func = table.get(fn)
        if func is None:
            return {"error": f"{module} has no server call {fn!r}", "kind": "InvalidSpec"}
        return {"result": func(*(req.get("args") or []), **(req.get("kwargs") or {}))}
    except BerthError as exc:
        return {"error": str(exc), "kind": type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - the caller reports it; the server carries on
        return {"error": f"{module}.{fn} failed in the monitor server: {type(exc).__name__}: {exc}",
                "kind": "RuntimeFailure"}


def _recv_request(conn: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The first CONTROL frame of a connection, and any descriptors sent with it."""
    import json

    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 8)
    reader = proto.FrameReader()
    frames = reader.feed(data)
    while not frames and data:
        data = conn.recv(65536)
        frames = reader.feed(data)
    for kind, payload in frames:
        if kind == proto.CONTROL:
            return json.loads(payload), fds
    return None, fds


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="berth-monitors")
    ap.add_argument("--root", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--hash", required=True)
    ap.add_argument("--ready-fd", type=int, default=-1)
    args = ap.parse_args(argv)
    paths = Paths.from_env(args.root, args.run)
    sc.set_name("berth-monitors")
    security.seccomp_cache_dir = str(paths.run / "seccomp")
    with contextlib.suppress(OSError):
        sc.set_child_subreaper()
    _preload()
    srv = Server(paths, args.hash)
    srv.bind()
    if args.ready_fd >= 0:
        os.write(args.ready_fd, b"ready")
        os.close(args.ready_fd)
    sys.stdout.flush()
    srv.serve()
