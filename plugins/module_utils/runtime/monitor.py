"""The per-container monitor: parent of the container's process for as long as it runs.

Forked from the monitor server, one per running container. It launches the container (see
launcher.py), then waits in one event loop for: output (to the json-file log and attached
clients), the exit (through a pidfd), commands on its socket run/containers/<id>/monitor.sock
(attach, stop, kill, wait, resize), timers (the stop timeout, restart back-off) and readers
that per-container services register (the network's DNS responder). After the final exit it
records the state, answers waiters, runs RunOptions.on_exit and leaves.

Service hook (for other packages, through data only): RunOptions may carry
``"services": [{"module": "network.dns", "args": {...}}]`` (and ``"dns"`` is shorthand for the
network.dns service). The monitor imports ``<module_utils>.<module>`` and calls its
``monitor_service(monitor, args)`` once the container runs; the service uses
``add_reader``, ``remove_reader``, ``call_later``, ``in_netns`` and ``at_exit``.
"""
from __future__ import annotations

import contextlib
import errno
import heapq
import importlib
import json
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import fsutil
from ..errors import BerthError, RuntimeFailure
from ..paths import Paths
from . import cgbridge, health, launcher, logs
from . import protocol as proto
from . import syscalls as sc
from .clients import ClientsMixin, _Client
from .policy import BACKOFF_RESET_AFTER, next_backoff, should_restart, signal_number
from .state import StateStore, now_rfc3339, proc_start_time, process_alive

__all__ = ["Monitor", "next_backoff", "run_monitor", "should_restart", "signal_number"]


class Monitor(ClientsMixin):
    def __init__(self, paths: Paths, cid: str) -> None:
        self.paths = paths
        self.cid = cid
        # Kept lean on purpose: every page this process writes before it settles into its loop
        # is a page it no longer shares with the server. The bundle is read by the launch
        # helper, which sends the monitor the little it needs.
        self.store = StateStore(paths)
        self.run_dir = f"{paths.run}/containers/{cid}"
        self.spec: dict[str, Any] = {}
        self.opts: dict[str, Any] = {}
        self.netns: str | None = None
        self.tty = False
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._exit_hooks: list[Callable[[int], None]] = []
        self.pid = 0
        self.pidfd = -1
        self.outputs: dict[int, str] = {}      # fd -> "stdout" | "stderr"
        self.stdin_w = -1
        self.pty = -1
        self.stdin_owner: int | None = None
        self.stdin_done = False          # stdin_once: the first attached stdin has come and gone
        self.stdin_buf = bytearray()
        self.log: logs.LogWriter | None = None
        self._cg: cgbridge.ContainerCgroup | None = None
        self.oom_before = 0
        self.started = 0.0
        self.backoff = 0.0
        self.restart_count = 0
        self.manually_stopped = False
        self.kill_timer: int | None = None
        self.done = False
        self.final_code = 0
        self.listener: socket.socket | None = None
        self._winsize: tuple[int, int] | None = None
        self.adopted = False
        self.told_attached = False  # an attached client heard of the final exit
        self.health: health.HealthChecker | None = None
        self._services_started: set[str] = set()
        self._self_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.monitor_pid = os.getpid()
        self.monitor_start = proc_start_time(self.monitor_pid)

    @property
    def cg(self) -> cgbridge.ContainerCgroup:
        if self._cg is None:  # first used in the launch helper: the monitor need not pay for it
            self._cg = cgbridge.for_spec(self.spec, self.cid)
        return self._cg

    # --- the API offered to per-container services ------------------------------------------
    def add_reader(self, fd: int, callback: Callable[[int], None]) -> None:
        self.sel.register(fd, selectors.EVENT_READ, ("ext", callback))

    def remove_reader(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(fd)

    def call_later(self, delay: float, fn: Callable[[], None]) -> int:
        self._seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self._seq, fn))
        return self._seq

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self.timers = [t for t in self.timers if t[1] != handle]
            heapq.heapify(self.timers)

    def at_exit(self, fn: Callable[[int], None]) -> None:
        """``fn(exit_code)`` after the final exit, before on_exit runs."""
        self._exit_hooks.append(fn)

    @contextlib.contextmanager
    def in_netns(self) -> Iterator[None]:
        """Run the block in the container's network namespace (to create sockets there)."""
        path = self.netns_path()
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(target, sc.CLONE_NEWNET)
            yield
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
            os.close(target)
            os.close(own)

    def netns_path(self) -> str:
        return self.netns or f"/proc/{self.pid}/ns/net"

    def load(self) -> None:
        """Read the bundle (in the launch helper, or for tests)."""
        self.spec = fsutil.read_json(f"{self.run_dir}/spec.json")
        self.opts = fsutil.read_json(f"{self.run_dir}/options.json", default={}) or {}
        self.tty = bool((self.spec.get("process") or {}).get("terminal"))
        self.netns = launcher.namespaces_of(self.spec).get("network")

    # --- life -------------------------------------------------------------------------------
    def serve(self, starter: socket.socket | None, request: dict[str, Any]) -> int:
        """Launch, then loop until the final exit. Returns the monitor's exit status."""
        sc.set_name("berth-monitor")
        with contextlib.suppress(OSError):
            sc.set_child_subreaper()
        self._listen()
        attach = bool(starter is not None and request.get("attach"))
        if attach:
            self._add_client(starter, dict(request["attach"], op="attach"))  # type: ignore[arg-type]
        # Services that name their network namespace (the DNS responder) answer before the
        # container's first instruction, so its first lookup never fails.
        self._start_services(fsutil.read_json(f"{self.run_dir}/options.json", default={}) or {}, early=True)
        try:
            self._launch(first=True, starter=starter, keep_starter=attach)
        except BerthError:
            self._cleanup()  # the helper recorded the error and told the starter
            return 1
        finally:
            if starter is not None and not attach:
                starter.close()
        if attach and starter is not None:
            starter.setblocking(False)  # the helper made the shared descriptor blocking
        lp = self.opts.get("log") or {}
        if lp.get("path"):
            self.log = logs.LogWriter(lp["path"], lp.get("max_size"), lp.get("max_file") or 1)
        self._start_services(self.opts)
        self._start_health()
        self._loop()
        self._finish()
        return 0

    def adopt(self, starter: socket.socket | None, kept: dict[str, Any] | None) -> int:
        """Take over a container whose monitor died (it is not our child: see _exit_status)."""
        sc.set_name("berth-monitor")
        with contextlib.suppress(OSError):
            sc.set_child_subreaper()
        try:
            self.load()
            st = self.store.read(self.cid)
            if not st.active or not process_alive(st.pid, st.pid_start):
                raise RuntimeFailure(f"container {self.cid[:12]} has no process to adopt")
            self.pid = st.pid
            self.pidfd = os.pidfd_open(self.pid)
        except (BerthError, OSError) as exc:
            if starter is not None:
                with contextlib.suppress(OSError):
                    starter.sendall(proto.control({"error": str(exc), "kind": "RuntimeFailure"}))
            return 1
        self.adopted = True
        self.restart_count = st.restart_count
        self.manually_stopped = st.manually_stopped
        self.started = time.monotonic() - BACKOFF_RESET_AFTER  # it has been running a while
        self._listen()
        self.sel.register(self.pidfd, selectors.EVENT_READ, ("exit", None))
        fds, roles = (kept["fds"], kept["roles"]) if kept else self._reopen_stdio()
        for fd, role in zip(fds, roles, strict=True):
            self._take_fd(fd, role)
        lp = self.opts.get("log") or {}
        if lp.get("path"):
            self.log = logs.LogWriter(lp["path"], lp.get("max_size"), lp.get("max_file") or 1)
        self.store.update(self.cid, monitor_pid=self.monitor_pid, monitor_start=self.monitor_start)
        if starter is not None:
            with contextlib.suppress(OSError):
                starter.sendall(proto.control({"pid": self.pid}))
            starter.close()
        with contextlib.suppress(OSError, ValueError):
            proto.send_with_fds(f"{self.paths.run}/monitor.sock",
                                {"op": "keep", "cid": self.cid, "monitor": self.monitor_pid,
                                 "roles": roles}, fds)
        self._start_services(self.opts)
        self._start_health()
        self._loop()
        self._finish()
        return 0

    def _reopen_stdio(self) -> tuple[list[int], list[str]]:
        """Without the server's copies: reopen the container's pipes through /proc/<pid>/fd."""
        fds, roles = [], []
        for n, role in ((1, "stdout"), (2, "stderr")):
            try:
                if not os.readlink(f"/proc/{self.pid}/fd/{n}").startswith("pipe:"):
                    continue  # a terminal's master cannot be found again from its slave
                fds.append(os.open(f"/proc/{self.pid}/fd/{n}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
                roles.append(role)
            except OSError:
                continue
        return fds, roles

    def _take_fd(self, fd: int, role: str) -> None:
        os.set_blocking(fd, False)
        if role == "stdin":
            self.stdin_w = fd
            return
        if role == "pty":
            self.pty = fd
            role = "stdout"
        self.outputs[fd] = role
        self.sel.register(fd, selectors.EVENT_READ, ("out", role))

    def _exit_status(self) -> tuple[int, str]:
        """(exit code, error): from waitpid for our child, else from the subreaper's record."""
        try:
            _, status = os.waitpid(self.pid, 0)
            return launcher.exit_code_of(status), ""
        except ChildProcessError:
            pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            rec = self.store.read_exit(self.cid)
            if rec is not None and rec.get("pid") == self.pid:
                return int(rec["code"]), ""
            time.sleep(0.01)
        return 255, "the container's first monitor died and its exit status was lost"

    def _listen(self) -> None:
        path = f"{self.run_dir}/monitor.sock"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        proto.bind(s, path)
        s.listen(16)
        s.setblocking(False)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, ("accept", None))

    def _launch(self, first: bool, starter: socket.socket | None = None,
                keep_starter: bool = False) -> None:
        """Launch through a throwaway helper process, so this one stays small.

        The helper does the heavy, one-time work (cgroup, pipes, namespaces, the exec
        handshake, state.json) in pages of its own, answers the starter, hands the container's
        stdio descriptors over, and exits; the container, its child, is then reparented to this
        process (the child subreaper). What a monitor touches and keeps for the container's
        whole life is only its event loop.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        helper = os.fork()
        if helper == 0:
            code = 0
            try:
                ours.close()
                self._helper(theirs, first, starter, keep_starter)
            except BaseException:  # noqa: BLE001 - the monitor hears of it as a silent helper
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ours, 65536, 8)
        finally:
            ours.close()
            os.waitpid(helper, 0)  # once it is reaped, the container is our child
        info = json.loads(msg) if msg else {"error": "the launch helper died", "kind": "RuntimeFailure"}
        if "error" in info:
            for fd in fds:
                os.close(fd)
            raise _launch_error(info)
        self.pid = int(info["pid"])
        self.oom_before = int(info["oom_before"])
        self.opts, self.tty, self.netns = info["opts"], bool(info["tty"]), info.get("netns")
        self.started = time.monotonic()
        self.pidfd = os.pidfd_open(self.pid)
        self.sel.register(self.pidfd, selectors.EVENT_READ, ("exit", None))
        for fd, role in zip(fds, info["fds"], strict=True):
            self._take_fd(fd, role)
        if self.pty >= 0 and self._winsize:
            self._resize(*self._winsize)
        if self.stdin_buf or self.stdin_eof_pending:
            self._flush_stdin()

    def _helper(self, sock: socket.socket, first: bool, starter: socket.socket | None,
                keep_starter: bool) -> None:
        """In the throwaway helper: launch, record, answer; then hand the fds to the monitor."""
        try:
            try:
                self.load()
            except (OSError, ValueError) as exc:
                raise RuntimeFailure(f"cannot read the container's bundle in {self.run_dir}: {exc}") from exc
            info, fds = self._spawn_container(first)
        except BerthError as exc:
            self.store.update(self.cid, status="created" if first else "exited", error=str(exc),
                              exit_code=exc.exit_code, pid=0, pid_start=None,
                              **({} if first else {"finished_at": now_rfc3339()}))
            err = {"error": str(exc), "kind": type(exc).__name__}
            if starter is not None:
                with contextlib.suppress(OSError):
                    starter.setblocking(True)
                    starter.sendall(proto.control(err))
            sock.sendall(json.dumps(err).encode())
            return
        if starter is not None:
            with contextlib.suppress(OSError):
                starter.setblocking(True)
                starter.sendall(proto.control({"pid": info["pid"]}))
        with contextlib.suppress(OSError, ValueError):
            # The server holds copies of the pipes for an adopter, should this monitor die.
            proto.send_with_fds(f"{self.paths.run}/monitor.sock",
                                {"op": "keep", "cid": self.cid, "monitor": self.monitor_pid,
                                 "roles": info["fds"]}, fds)
        socket.send_fds(sock, [json.dumps(info).encode()], fds)

    def _spawn_container(self, first: bool) -> tuple[dict[str, Any], list[int]]:
        if first:
            self.cg.create()
        roles: list[str] = []
        keep: list[int] = []
        if self.tty:
            stdio_in = stdio_out = stdio_err = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            child_ends = [stdio_in]
        else:
            if self.opts.get("open_stdin") and not self.stdin_done:
                stdio_in, stdin_w = os.pipe2(os.O_CLOEXEC)
                keep.append(stdin_w)
                roles.append("stdin")
            else:
                stdio_in = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            out_r, stdio_out = os.pipe2(os.O_CLOEXEC)
            err_r, stdio_err = os.pipe2(os.O_CLOEXEC)
            child_ends = [stdio_in, stdio_out, stdio_err]
            keep += [out_r, err_r]
            roles += ["stdout", "stderr"]
        oom_before = self.cg.oom_kills()
        try:
            spawned = launcher.spawn(self.spec, self.opts, (stdio_in, stdio_out, stdio_err),
                                     self.cg.join, self._self_pidns)
        finally:
            for fd in set(child_ends):
                os.close(fd)
        if spawned.pty_master is not None:
            keep.append(spawned.pty_master)
            roles.append("pty")
        self.store.update(self.cid, durable=False, status="running", pid=spawned.pid,
                          pid_start=proc_start_time(spawned.pid), monitor_pid=self.monitor_pid,
                          monitor_start=self.monitor_start, exit_code=0, error="", oom_killed=False,
                          started_at=now_rfc3339(), restart_count=self.restart_count,
                          manually_stopped=False, tty=self.tty,
                          health=health.new_health() if self.opts.get("health") else None)
        return {"pid": spawned.pid, "oom_before": oom_before, "fds": roles, "opts": self.opts,
                "tty": self.tty, "netns": self.netns}, keep

    def _start_services(self, opts: dict[str, Any], early: bool = False) -> None:
        """Start each service once: early (before the launch) those whose args name their
        network namespace, the others once the container runs."""
        services = list(opts.get("services") or [])
        if opts.get("dns"):
            services.append({"module": "network.dns", "args": opts["dns"]})
        base = __name__.rsplit(".", 2)[0]
        for svc in services:
            args = svc.get("args") or {}
            key = json.dumps([svc.get("module"), args.get("netns")])
            if key in self._services_started or (early and not args.get("netns")):
                continue
            self._services_started.add(key)
            try:
                mod = importlib.import_module(f"{base}.{svc['module']}")
                mod.monitor_service(self, args)
            except Exception as exc:  # noqa: BLE001 - a service must not take the container down
                self._note(f"service {svc.get('module')!r} failed: {exc}")

    def _start_health(self) -> None:
        """Probes from each launch on (a restart starts over at "starting")."""
        cfg = self.opts.get("health")
        if not cfg or self.pidfd < 0:
            return
        if self.health is None:
            self.health = health.HealthChecker(self, cfg)
        self.health.start()

    def _note(self, msg: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, f"berth-monitor {self.cid[:12]}: {msg}\n".encode())

    def _loop(self) -> None:
        while not self.done:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            try:
                events = self.sel.select(timeout)
            except InterruptedError:
                continue
            for key, mask in events:
                kind, data = key.data
                # An earlier event of this batch may have closed (or reused) this descriptor.
                if kind == "out":
                    if key.fd in self.outputs:
                        self._on_output(key.fd, data)
                elif kind == "exit":
                    if key.fd == self.pidfd:
                        self._on_exit()
                elif kind == "accept":
                    self._on_accept()
                elif kind == "client":
                    self._on_client(key.fd, mask)
                elif kind == "ext":
                    try:
                        data(key.fd)
                    except Exception as exc:  # noqa: BLE001
                        self._note(f"reader on fd {key.fd} failed: {exc}")
                        self.remove_reader(key.fd)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()

    # --- output -----------------------------------------------------------------------------
    def _on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        self._deliver(stream, data)

    def _deliver(self, stream: str, data: bytes) -> None:
        if self.log is not None:
            self.log.write(stream, data)
        fr = proto.frame(proto.STDOUT if stream == "stdout" else proto.STDERR, data)
        for c in list(self.clients.values()):
            if c.kind == "attach" and (c.stdout if stream == "stdout" else c.stderr):
                self._send(c, fr)

    def _close_output(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(fd)
        self.outputs.pop(fd, None)
        if fd == self.pty:
            self.pty = -1
        os.close(fd)

    def _drain_outputs(self, budget: float = 1.0) -> None:
        """After the exit: read what the container wrote last, until EOF or ``budget`` seconds."""
        deadline = time.monotonic() + budget
        while self.outputs and time.monotonic() < deadline:
            ready = selectors.DefaultSelector()
            try:
                for fd in self.outputs:
                    ready.register(fd, selectors.EVENT_READ)
                events = ready.select(max(0.0, deadline - time.monotonic()))
            finally:
                ready.close()
            if not events:
                break
            for key, _ in events:
                self._on_output(key.fd, self.outputs.get(key.fd, "stdout"))
        for fd in list(self.outputs):
            self._close_output(fd)
        if self.log is not None:
            self.log.flush_partial()

    # --- stopping ---------------------------------------------------------------------------
    def kill(self, sig: int) -> bool:
        if sig in (signal.SIGKILL, signal_number(self.opts.get("stop_signal"))):
            self.manually_stopped = True
            self.store.update(self.cid, manually_stopped=True)
        if self.pidfd < 0:
            if self.pending_restart is not None:
                self._cancel_restart()
                return True
            return False
        try:
            sc.pidfd_send_signal(self.pidfd, sig)
            return True
        except OSError:
            return False

    def stop(self, timeout: float, sig: str | int | None) -> None:
        self.manually_stopped = True
        self.store.update(self.cid, manually_stopped=True)
        if self.pidfd < 0:
            self._cancel_restart()
            return
        with contextlib.suppress(OSError):
            sc.pidfd_send_signal(self.pidfd, signal_number(sig))
        if self.kill_timer is None:
            self.kill_timer = self.call_later(max(0.0, timeout), self._force_kill)

    def _force_kill(self) -> None:
        self.kill_timer = None
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                sc.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    pending_restart: int | None = None

    def _cancel_restart(self) -> None:
        if self.pending_restart is not None:
            self.cancel(self.pending_restart)
            self.pending_restart = None
            self.store.update(self.cid, status="exited", pid=0, pid_start=None)
            self.done = True

    # --- exits ------------------------------------------------------------------------------
    def _on_exit(self) -> None:
        code, error = self._exit_status()
        self.adopted = False
        self.sel.unregister(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = -1
        self.cancel(self.kill_timer)
        self.kill_timer = None
        if self.health is not None:
            self.health.stop()
        self._drain_outputs()
        if self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1
        oom = self.cg.oom_kills() > self.oom_before
        self.store.write_exit(self.cid, code, oom, self.pid)
        ran_for = time.monotonic() - self.started
        with contextlib.suppress(Exception):  # `update --restart` rewrites options.json
            self.opts["restart"] = fsutil.read_json(f"{self.run_dir}/options.json")["restart"]
        policy = self.opts.get("restart") or {}
        self.manually_stopped = self.manually_stopped or self.store.read(self.cid).manually_stopped
        restart = should_restart(policy, code, self.restart_count, self.manually_stopped)
        finished = now_rfc3339()
        # The state first, then the clients: an attached `run --rm` removes the container as
        # soon as it hears of the exit, and must find it exited (no kill, no wait), and no
        # write of ours may come after its removal (it would make a ghost folder).
        if restart:
            self.backoff = next_backoff(self.backoff, ran_for)
            self.restart_count += 1
            self.store.update(self.cid, status="restarting", exit_code=code, oom_killed=oom,
                              finished_at=finished, restart_count=self.restart_count)
            self.pending_restart = self.call_later(self.backoff, self._restart)
        else:
            self.final_code = code
            self.store.update(self.cid, status="exited", exit_code=code, oom_killed=oom, pid=0,
                              pid_start=None, finished_at=finished, error=error, monitor_pid=0,
                              monitor_start=None, durable=False)
            self.done = True
        # Attached clients see each run end, as with Docker.
        for c in list(self.clients.values()):
            if c.kind == "attach":
                self._send(c, proto.control({"exit": code}))
                self._drop_after_flush(c)
                self.told_attached = True
        if self.done:
            self._sync_state()  # durable now; the clients did not wait for the disk (~8 ms)

    def _sync_state(self) -> None:
        """fsync state.json and its folder; nothing when the container was removed meanwhile."""
        try:
            fd = os.open(self.store.file(self.cid), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            fsutil.fsync_dir(self.store.dir(self.cid))

    def _restart(self) -> None:
        self.pending_restart = None
        if self.manually_stopped:
            self.store.update(self.cid, status="exited", pid=0, pid_start=None)
            self.done = True
            return
        try:
            self._launch(first=False)
        except BerthError as exc:
            self.final_code = exc.exit_code  # the helper recorded the failure in state.json
            self.done = True
            return
        self._start_health()

    def _finish(self) -> None:
        st = self.store.read(self.cid)
        for fn in self._exit_hooks:
            with contextlib.suppress(Exception):
                fn(self.final_code)
        self._cleanup()  # no new client can reach this monitor from here on
        if st.monitor_pid == self.monitor_pid and self.store.dir(self.cid).is_dir():
            # Before any waiter hears of the exit: it may remove the container at once.
            with contextlib.suppress(FileNotFoundError):
                st = self.store.update(self.cid, monitor_pid=0, monitor_start=None)
        for c in list(self.clients.values()):
            if c.kind == "waiter":
                self._send(c, proto.control({"exit": st.exit_code, "oom": st.oom_killed}))
                self._drop_after_flush(c)
            else:
                self._drop(c)
        if self.told_attached:
            # An attached `run --rm` removes the container itself as soon as it hears of the
            # exit: give it a moment rather than start an interpreter that finds nothing to do.
            deadline = time.monotonic() + 0.1
            while self.store.dir(self.cid).is_dir() and time.monotonic() < deadline:
                time.sleep(0.005)
        if not self.store.dir(self.cid).is_dir():
            return  # removed meanwhile (run --rm): nothing left to clean up
        argv = self.opts.get("on_exit")
        if argv:
            self._run_detached([str(a) for a in argv])

    def _cleanup(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.run_dir}/monitor.sock")
            self.listener.close()
            self.listener = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def _run_detached(self, argv: list[str]) -> None:
        """on_exit: the monitor does not wait; the server (or init) reaps the process."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)


def _launch_error(info: dict[str, Any]) -> BerthError:
    from .. import errors

    cls = getattr(errors, str(info.get("kind")), None)
    if not (isinstance(cls, type) and issubclass(cls, BerthError)):
        cls = errors.RuntimeFailure
    return cls(str(info.get("error")))


def run_monitor(paths: Paths, cid: str, starter: socket.socket | None, request: dict[str, Any],
                kept: dict[str, Any] | None = None) -> int:
    """Entry point in a freshly forked monitor process."""
    try:
        mon = Monitor(paths, cid)
    except Exception as exc:  # noqa: BLE001 - the starter must hear why
        if starter is not None:
            with contextlib.suppress(OSError):
                starter.sendall(proto.control({"error": f"cannot read the container's bundle: {exc}",
                                               "kind": "RuntimeFailure"}))
        return 1
    if request.get("adopt"):
        return mon.adopt(starter, kept)
    return mon.serve(starter, request)
