"""The Runtime: an OCI runtime spec in, a monitored process out (docs/design.md, "Runtime").

The container service writes run/containers/<id>/spec.json (runtime-spec 1.x config.json) and
options.json (RunOptions) and calls ``start``. Everything else is asked of the container's
monitor over its socket while it lives, and done directly (through a pidfd, checked against the
recorded start time) when it does not.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .. import fsutil
from ..errors import Conflict, NotFound, RuntimeFailure
from ..paths import Paths
from ..types import check_hex_id
from . import protocol as proto
from .state import ContainerState, StateStore, plan_reconcile, proc_start_time, process_alive

SPEC_FILE = "spec.json"
OPTIONS_FILE = "options.json"
SPAWN_TIMEOUT = 120.0
SERVER_SOCKET = "monitor.sock"   # server.SOCKET_NAME; importing server.py would cost the CLI ~10 ms

Stream = int | IO[Any] | None
_PACKAGE = __name__.rsplit(".", 2)[0]


def _fd(stream: Stream) -> int | None:
    if stream is None:
        return None
    if isinstance(stream, int):
        return stream
    with contextlib.suppress(AttributeError, ValueError, OSError):
        stream.flush()
    return stream.fileno()


class Runtime:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.states = StateStore(paths)

    # --- files ------------------------------------------------------------------------------
    def bundle_dir(self, cid: str) -> Path:
        return self.states.run_dir(cid)

    def spec_path(self, cid: str) -> Path:
        return self.bundle_dir(cid) / SPEC_FILE

    def options_path(self, cid: str) -> Path:
        return self.bundle_dir(cid) / OPTIONS_FILE

    def _spec(self, cid: str) -> dict[str, Any]:
        try:
            return fsutil.read_json(self.spec_path(cid))
        except FileNotFoundError:
            raise NotFound(f"no runtime bundle for container {cid[:12]}: "
                           f"{self.spec_path(cid)} is missing", container=cid) from None

    def _options(self, cid: str) -> dict[str, Any]:
        return fsutil.read_json(self.options_path(cid), default={}) or {}

    def _monitor_sock(self, cid: str) -> str:
        return str(self.bundle_dir(cid) / "monitor.sock")

    def _cgroup(self, cid: str) -> Any:
        from . import cgbridge

        return cgbridge.for_spec(self._spec(cid), cid)

    # --- state ------------------------------------------------------------------------------
    def _current(self, cid: str) -> ContainerState:
        """state.json, reconciled with what is actually alive."""
        st = self.states.read(cid)
        if not st.active:
            return st
        mon_alive = process_alive(st.monitor_pid, st.monitor_start)
        if mon_alive:
            return st
        with self.states.locked(cid):
            st = self.states.read(cid)
            mon_alive = process_alive(st.monitor_pid, st.monitor_start)
            alive = process_alive(st.pid, st.pid_start)
            record = self.states.read_exit(cid)
            if not mon_alive and not alive and st.status != "restarting" and record is None:
                record = self._await_exit_record(cid, st)
            fixed = plan_reconcile(st, mon_alive, alive, record)
            if fixed is not None:
                self.states.write(cid, fixed)
                return fixed
        if alive and not mon_alive and st.status in ("running", "paused"):
            self._adopt(cid)
            return self.states.read(cid)  # with the new monitor, when adoption worked
        return st

    def _adopt(self, cid: str) -> None:
        """Give a container whose monitor died a new one (best effort: state is right anyway)."""
        try:
            with fsutil.locked(self.paths.lock(f"runtime-start-{cid}")):
                st = self.states.read(cid)
                if process_alive(st.monitor_pid, st.monitor_start) or not process_alive(st.pid, st.pid_start):
                    return
                _reply, sock = self._spawn(cid, None, adopt=True)
                sock.close()
        except Exception:  # noqa: BLE001 - adoption must never break the command that triggered it
            pass

    def _await_exit_record(self, cid: str, st: ContainerState, limit: float = 2.0) -> dict[str, Any] | None:
        """An orphaned container just died: its reaper (the server) is about to record why."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            record = self.states.read_exit(cid)
            if record is not None and record.get("pid") == st.pid:
                return record
            if not _is_zombie(st.pid) and not self._server_alive():
                return None
            time.sleep(0.01)
        return None

    def _server_alive(self) -> bool:
        try:
            pid_s, start_s = (self.paths.run / "monitor.pid").read_text().split()
            return process_alive(int(pid_s), int(start_s))
        except (OSError, ValueError):
            return False

    def state(self, cid: str) -> dict[str, Any]:
        return self._current(check_hex_id(cid, "container id")).to_docker()

    def _monitor_alive(self, st: ContainerState) -> bool:
        return process_alive(st.monitor_pid, st.monitor_start)

    # --- start ------------------------------------------------------------------------------
    def start(self, cid: str) -> int:
        """Launch through a monitor; return the container's pid once its command was exec'd."""
        check_hex_id(cid, "container id")
        with fsutil.locked(self.paths.lock(f"runtime-start-{cid}")):
            st = self._current(cid)
            if st.status in ("running", "paused"):
                return st.pid
            if st.status == "restarting":
                return 0
            if not self.spec_path(cid).exists():
                self._spec(cid)
            reply, sock = self._spawn(cid, None)
            sock.close()
            return int(reply["pid"])

    def _spawn(self, cid: str, attach: dict[str, Any] | None,
               adopt: bool = False) -> tuple[dict[str, Any], socket.socket]:
        """Ask the monitor server for a monitor; (its reply, the open connection to it)."""
        return self._server_request({"op": "spawn", "cid": cid, "attach": attach, "adopt": adopt},
                                    f"the monitor of container {cid[:12]}")

    def server_call(self, module: str, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``module.SERVER_CALLS[fn](*args, **kwargs)`` in the warm monitor server.

        For work whose libraries cost more to import than to use (pyroute2): the server has
        them loaded. Arguments and the result are JSON; errors come back as BerthErrors.
        """
        reply, sock = self._server_request({"op": "call", "module": module, "fn": fn, "args": list(args),
                                            "kwargs": kwargs}, "the monitor server")
        sock.close()
        return reply.get("result")

    def in_server(self, module: Any) -> ServerModule:
        """``module`` (one of the server's CALL_MODULES) with its SERVER_CALLS run in the server."""
        return ServerModule(self, module)

    def _server_request(self, req: dict[str, Any], who: str) -> tuple[dict[str, Any], socket.socket]:
        """Send one request to the monitor server (started, or replaced when it runs another
        engine version, as needed); its reply and the open connection."""
        from . import install

        digest, _base = install.ensure_engine_copy(self.paths)
        path = str(self.paths.run / SERVER_SOCKET)
        for attempt in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                try:
                    s.settimeout(SPAWN_TIMEOUT)
                    proto.connect(s, path)
                    s.sendall(proto.control(dict(req, hash=digest)))
                    reply = proto.recv_control(s)
                except (FileNotFoundError, ConnectionRefusedError):
                    reply = {"error": "stale"}
                if reply is None:
                    raise RuntimeFailure(f"{who} exited before it answered; "
                                         f"see {self.paths.run / 'monitor.log'}")
                # A server older than the request answers "unknown request": stale as well.
                if attempt < 2 and (reply.get("error") == "stale"
                                    or str(reply.get("error", "")).startswith("unknown request")):
                    s.close()
                    self._start_current_server(digest)
                    continue
                if "error" in reply:
                    self._raise(reply)
                s.settimeout(None)
                return reply, s
            except BaseException:
                s.close()
                raise
        raise RuntimeFailure("could not reach a monitor server")

    def _start_current_server(self, digest: str) -> None:
        from . import install

        with fsutil.locked(self.paths.lock("monitor-server")):
            if not self._server_current(digest):
                install.start_server(self.paths)

    def replace_stale_server(self) -> bool:
        """When the running monitor server is of another engine version, start one of this
        version (as the next container operation would) and say so; False when none runs or it
        is current already."""
        from . import install

        digest, _base = install.ensure_engine_copy(self.paths)
        try:
            reply = proto.request(str(self.paths.run / SERVER_SOCKET), {"op": "hello"}, timeout=5)
        except OSError:
            return False
        if not reply or reply.get("hash") == digest:
            return False
        self._start_current_server(digest)
        return True

    def _server_current(self, digest: str) -> bool:
        try:
            reply = proto.request(str(self.paths.run / SERVER_SOCKET), {"op": "hello"}, timeout=5)
        except OSError:
            return False
        return bool(reply and reply.get("hash") == digest)

    @staticmethod
    def _raise(reply: dict[str, Any]) -> None:
        from .. import errors

        cls = getattr(errors, str(reply.get("kind")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.BerthError)):
            cls = RuntimeFailure
        raise cls(str(reply.get("error")))

    # --- attach -----------------------------------------------------------------------------
    def attach(self, cid: str, stdin: Stream = None, stdout: Stream = None, stderr: Stream = None,
               detach_keys: str | None = "ctrl-p,ctrl-q", start: bool = False,
               launched: Callable[[], None] | None = None) -> int | None:
        """Stream a container's stdio until it exits (its code) or the user detaches (None).

        ``start=True`` starts the container with this attach already in place, so nothing it
        prints is missed (what `berth run` without -d does).
        """
        from . import console

        check_hex_id(cid, "container id")
        keys = console.parse_detach_keys(detach_keys)
        spec = self._spec(cid)
        tty = bool((spec.get("process") or {}).get("terminal"))
        fds = (_fd(stdin), _fd(stdout), _fd(stderr))
        hello: dict[str, Any] = {"stdin": fds[0] is not None, "stdout": fds[1] is not None,
                                 "stderr": fds[2] is not None}
        if tty and fds[0] is not None:
            size = console.get_winsize(fds[0]) or (console.get_winsize(fds[1]) if fds[1] is not None else None)
            if size:
                hello["resize"] = list(size)
        if start:
            with fsutil.locked(self.paths.lock(f"runtime-start-{cid}")):
                st = self._current(cid)
                if st.active:
                    raise Conflict(f"container {cid[:12]} is already running", container=cid)
                _reply, sock = self._spawn(cid, hello)
            if launched is not None:
                launched()  # e.g. the container service releases the lock it held for the launch
        else:
            st = self._current(cid)
            if st.status not in ("running", "paused", "restarting"):
                raise Conflict("You cannot attach to a stopped container, start it first", container=cid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                proto.connect(sock, self._monitor_sock(cid))
            except OSError as exc:
                sock.close()
                raise RuntimeFailure(f"cannot attach to container {cid[:12]}: its monitor is not "
                                     f"reachable ({exc.strerror})", container=cid) from exc
            sock.sendall(proto.control(dict(hello, op="attach")))
        with sock:
            return console.pump(sock, fds[0], fds[1], fds[2], tty, keys)

    # --- signals and stopping ---------------------------------------------------------------
    def _ask(self, cid: str, req: dict[str, Any], timeout: float | None = 10.0) -> dict[str, Any] | None:
        try:
            return proto.request(self._monitor_sock(cid), req, timeout=timeout)
        except (FileNotFoundError, ConnectionError):
            return None  # the monitor is gone or leaving: the caller reads state.json

    def kill(self, cid: str, sig: int | str = signal.SIGKILL) -> None:
        from .policy import signal_number

        check_hex_id(cid, "container id")
        num = signal_number(sig, signal.SIGKILL)
        st = self._current(cid)
        if st.status not in ("running", "paused", "restarting"):
            raise Conflict(f"container {cid[:12]} is not running", container=cid)
        if self._monitor_alive(st):
            reply = self._ask(cid, {"op": "kill", "signal": num})
            if reply is not None:
                if st.status == "paused" and num == signal.SIGKILL:
                    self._thaw_quietly(cid)
                return
        self._signal_process(st, num)

    def _signal_process(self, st: ContainerState, num: int) -> bool:
        if not process_alive(st.pid, st.pid_start):
            return False
        try:
            fd = os.pidfd_open(st.pid)
        except ProcessLookupError:
            return False
        try:
            if proc_start_time(st.pid) != st.pid_start:
                return False  # the pid was reused between the check and the open
            signal.pidfd_send_signal(fd, num)
            return True
        except ProcessLookupError:
            return False
        finally:
            os.close(fd)

    def stop(self, cid: str, timeout: float | None = None, sig: int | str | None = None) -> None:
        from .policy import signal_number

        check_hex_id(cid, "container id")
        opts = self._options(cid)
        timeout = float(opts.get("stop_timeout", 10) if timeout is None else timeout)
        sig = sig or opts.get("stop_signal") or "SIGTERM"
        st = self._current(cid)
        if not st.active:
            return
        if self._monitor_alive(st):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(timeout + 30)
                    proto.connect(s, self._monitor_sock(cid))
                    s.sendall(proto.control({"op": "stop", "timeout": timeout, "signal": sig}))
                    if st.status == "paused":
                        self._thaw_quietly(cid)
                    proto.recv_control(s)
                self._wait_monitor_gone(cid)
                return
            except (FileNotFoundError, ConnectionError):
                if not self._current(cid).active:
                    return
        # No monitor: signal the process ourselves and watch it through a pidfd.
        self.states.update(cid, manually_stopped=True)
        num = signal_number(sig)
        if self._signal_process(st, num):
            if st.status == "paused":
                self._thaw_quietly(cid)
            if not self._wait_pid(st, timeout):
                self._signal_process(st, signal.SIGKILL)
                self._wait_pid(st, 30)
        self._current(cid)

    def _wait_monitor_gone(self, cid: str, limit: float = 10.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            st = self.states.read(cid)
            if not st.monitor_pid or not process_alive(st.monitor_pid, st.monitor_start):
                return
            time.sleep(0.005)

    def _wait_pid(self, st: ContainerState, timeout: float) -> bool:
        try:
            fd = os.pidfd_open(st.pid)
        except ProcessLookupError:
            return True
        try:
            if proc_start_time(st.pid) != st.pid_start:
                return True
            r, _, _ = select.select([fd], [], [], max(0.0, timeout))
            return bool(r)
        finally:
            os.close(fd)

    def wait(self, cid: str) -> int:
        """Block until the container has exited for good (no restart pending); its exit code."""
        check_hex_id(cid, "container id")
        while True:
            st = self._current(cid)
            if not st.active:
                return st.exit_code
            if self._monitor_alive(st):
                reply = self._ask(cid, {"op": "wait"}, timeout=None)
                if reply is not None and "exit" in reply:
                    return int(reply["exit"])
                self._wait_monitor_gone(cid, 2.0)
            else:
                self._wait_pid(st, 1.0)

    # --- pause, update, inspection ------------------------------------------------------------
    def pause(self, cid: str) -> None:
        check_hex_id(cid, "container id")
        with self.states.locked(cid):
            st = self.states.read(cid)
            if st.status == "paused":
                raise Conflict(f"container {cid[:12]} is already paused", container=cid)
            if st.status != "running" or not process_alive(st.pid, st.pid_start):
                raise Conflict(f"container {cid[:12]} is not running", container=cid)
            self._cgroup(cid).freeze()
            self.states.write(cid, st.replace(status="paused"))

    def resume(self, cid: str) -> None:
        check_hex_id(cid, "container id")
        with self.states.locked(cid):
            st = self.states.read(cid)
            if st.status != "paused":
                raise Conflict(f"container {cid[:12]} is not paused", container=cid)
            self._cgroup(cid).thaw()
            self.states.write(cid, st.replace(status="running"))

    def _thaw_quietly(self, cid: str) -> None:
        with contextlib.suppress(Exception):
            self._cgroup(cid).thaw()
        with self.states.locked(cid):
            st = self.states.read(cid)
            if st.status == "paused":
                self.states.write(cid, st.replace(status="running"))

    def update(self, cid: str, resources: dict[str, Any] | None = None,
               restart: dict[str, Any] | None = None) -> None:
        """Change limits in place (and the restart policy, read by the monitor at each exit)."""
        check_hex_id(cid, "container id")
        if resources:
            spec = self._spec(cid)
            st = self._current(cid)
            if st.active:
                self._cgroup(cid).update(resources)
            linux = spec.setdefault("linux", {})
            merged = dict(linux.get("resources") or {})
            merged.update(resources)
            linux["resources"] = merged
            fsutil.write_json(self.spec_path(cid), spec)
        if restart is not None:
            opts = self._options(cid)
            opts["restart"] = restart
            fsutil.write_json(self.options_path(cid), opts)

    def top(self, cid: str) -> list[int]:
        """Host pids of the container's processes."""
        st = self._current(check_hex_id(cid, "container id"))
        if st.status not in ("running", "paused"):
            raise Conflict(f"container {cid[:12]} is not running", container=cid)
        with contextlib.suppress(RuntimeFailure, OSError):
            pids = self._cgroup(cid).pids()
            if pids:
                return sorted(pids)
        return pids_in_namespace(st.pid)

    def stats(self, cid: str) -> dict[str, Any]:
        st = self._current(check_hex_id(cid, "container id"))
        out: dict[str, Any] = {}
        if st.status in ("running", "paused"):
            out = dict(self._cgroup(cid).stats())
            out["networks"] = net_stats(st.pid)
        return out

    def delete(self, cid: str, force: bool = False) -> None:
        """After the exit: remove the cgroup and the run folder (state.json stays with the container)."""
        check_hex_id(cid, "container id")
        st = self._current(cid)
        if st.active:
            if not force:
                raise Conflict(f"cannot remove container {cid[:12]}: it is {st.status}; stop it "
                               f"first or force the removal", container=cid)
            self.stop(cid, timeout=0, sig="SIGKILL")
            st = self._current(cid)
        try:
            spec: dict[str, Any] | None = self._spec(cid)
        except NotFound:
            spec = None

        def remove_cgroup() -> None:
            from . import cgbridge

            if spec is not None:
                cgbridge.for_spec(spec, cid).remove()
        # The berth command does these after it answered (fsutil.defer_discards).
        fsutil.later(remove_cgroup)
        bundle = self.bundle_dir(cid)
        fsutil.later(lambda: fsutil.remove_tree(bundle))

    def logs(self, cid: str, follow: bool = False, since: int | None = None, until: int | None = None,
             tail: int | None = None, timestamps: bool = False) -> Iterator[tuple[str, str, bytes]]:
        """(stream, RFC 3339 time, bytes) records of the json-file log, oldest first."""
        from . import logs

        check_hex_id(cid, "container id")
        path = (self._options(cid).get("log") or {}).get("path") or str(
            self.paths.containers / cid / f"{cid}-json.log")
        return logs.read_logs(path, follow=follow, since=since, until=until, tail=tail,
                              running=lambda: self._current(cid).active)

    def exec(self, cid: str, process: dict[str, Any], tty: bool = False, interactive: bool = False,
             detach: bool = False, stdin: Stream = None, stdout: Stream = None, stderr: Stream = None) -> int:
        from . import exec as _exec

        check_hex_id(cid, "container id")
        st = self._current(cid)
        if st.status == "paused":
            raise Conflict(f"container {cid[:12]} is paused, unpause the container before exec", container=cid)
        if st.status != "running" or not process_alive(st.pid, st.pid_start):
            raise Conflict(f"container {cid[:12]} is not running", container=cid)
        return _exec.run(self._spec(cid), cid, st.pid, process, tty=tty, interactive=interactive,
                         detach=detach, stdin=_fd(stdin), stdout=_fd(stdout), stderr=_fd(stderr),
                         record_dir=self.bundle_dir(cid))

    def exec_ids(self, cid: str) -> list[str]:
        """The container's running exec sessions (inspect's ExecIDs)."""
        from .execrecords import exec_ids

        return exec_ids(self.bundle_dir(check_hex_id(cid, "container id")))


class ServerModule:
    """A module whose SERVER_CALLS run in the monitor server; its other names stay local."""

    def __init__(self, runtime: Runtime, module: Any) -> None:
        self._runtime = runtime
        self._module = module
        self._name = module.__name__[len(_PACKAGE) + 1:]
        self._calls = module.SERVER_CALLS

    def __getattr__(self, name: str) -> Any:
        if name in self._calls:
            return lambda *args, **kwargs: self._runtime.server_call(self._name, name, *args, **kwargs)
        return getattr(self._module, name)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:].startswith(b"Z")


def pids_in_namespace(init_pid: int) -> list[int]:
    """Every process in the pid namespace of ``init_pid`` (a fallback when no cgroup says)."""
    try:
        target = os.stat(f"/proc/{init_pid}/ns/pid").st_ino
    except FileNotFoundError:
        return []
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{name}/ns/pid").st_ino == target:
                out.append(int(name))
    return sorted(out)


def net_stats(pid: int) -> dict[str, dict[str, int]]:
    """Per-interface counters from the container's network namespace (/proc/<pid>/net/dev)."""
    out: dict[str, dict[str, int]] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        if name.strip() == "lo" or len(v) < 16:
            continue
        out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out
