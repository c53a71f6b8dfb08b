"""Healthchecks: the image's HEALTHCHECK, or the container's --health-* overrides, run by the
container's monitor as an exec in the container at each interval.

The pure part (the merge of image and container settings, the probe's argv, how one result
changes State.Health) is tested without a kernel. The monitor part forks one short-lived probe
process per check: it enters the container as `exec` does and waits for the command, so the
monitor's event loop never blocks; output comes back through a pipe, the exit through a pidfd,
and a probe past its timeout is killed and recorded as Docker does (exit code -1).

State.Health = {"Status": "starting" | "healthy" | "unhealthy", "FailingStreak": n,
"Log": [the last five {"Start", "End", "ExitCode", "Output"}]}, kept in state.json.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5
STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


# --- pure ------------------------------------------------------------------------------------

def merge(image: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Docker's merge of Config.Healthcheck: each field the container sets replaces the image's;
    a Test of ["NONE"] disables the check. None when there is no check to run."""
    out = dict(image or {})
    for key, value in (override or {}).items():
        if value:
            out[key] = value
    test = [str(t) for t in out.get("Test") or []]
    if not test or test[0] == "NONE":
        return None
    out["Test"] = test
    return out


def probe_argv(test: list[str]) -> list[str] | None:
    """The command of a Test: ["CMD", args...] as is, ["CMD-SHELL", cmd] through /bin/sh -c."""
    if not test:
        return None
    kind, rest = test[0], test[1:]
    if kind == "CMD" and rest:
        return list(rest)
    if kind == "CMD-SHELL" and rest:
        return ["/bin/sh", "-c", " ".join(rest)]
    if kind not in ("CMD", "CMD-SHELL", "NONE"):
        return ["/bin/sh", "-c", " ".join(test)]  # a bare string stored by an older writer
    return None


def run_config(image: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What RunOptions["health"] holds for the monitor: argv and durations in seconds."""
    hc = merge(image, override)
    if hc is None:
        return None
    argv = probe_argv(hc["Test"])
    if argv is None:
        return None
    return {"argv": argv,
            "interval": int(hc.get("Interval") or DEFAULT_INTERVAL) / NS,
            "timeout": int(hc.get("Timeout") or DEFAULT_TIMEOUT) / NS,
            "start_period": int(hc.get("StartPeriod") or 0) / NS,
            "retries": int(hc.get("Retries") or DEFAULT_RETRIES)}


def new_health() -> dict[str, Any]:
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def record(health: Mapping[str, Any] | None, result: Mapping[str, Any], in_start_period: bool,
           retries: int) -> dict[str, Any]:
    """State.Health after one probe ``result`` ({Start, End, ExitCode, Output}).

    A success makes the container healthy and resets the streak; a failure counts towards
    ``retries`` unless the container is still starting within its start period.
    """
    h = dict(health or new_health())
    log = list(h.get("Log") or []) + [dict(result)]
    h["Log"] = log[-MAX_LOG:]
    if result.get("ExitCode") == 0:
        h["Status"], h["FailingStreak"] = HEALTHY, 0
        return h
    if in_start_period and h.get("Status") == STARTING:
        return h
    h["FailingStreak"] = int(h.get("FailingStreak") or 0) + 1
    if h["FailingStreak"] >= max(1, retries):
        h["Status"] = UNHEALTHY
    return h


def stopped(health: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a container that stopped shows: unhealthy, with its log."""
    if health is None:
        return None
    return dict(health, Status=UNHEALTHY)


def _text(data: bytes) -> str:
    return data[:MAX_OUTPUT].decode("utf-8", errors="replace")


# --- in the monitor ---------------------------------------------------------------------------

class HealthChecker:
    """One container's probes, scheduled on its monitor's event loop."""

    def __init__(self, monitor: Any, config: Mapping[str, Any]) -> None:
        self.mon = monitor
        self.cfg = dict(config)
        self.timer: int | None = None
        self.timeout_timer: int | None = None
        self.probe_pid = 0
        self.probe_fd = -1
        self.out_fd = -1
        self.output = bytearray()
        self.started_at = ""
        self.timed_out = False
        self.since = time.monotonic()

    def start(self) -> None:
        """At each launch (the launch wrote Health "starting"; an adopter keeps what it finds)."""
        self.since = time.monotonic()
        self.mon.cancel(self.timer)
        self._schedule()

    def stop(self) -> None:
        """At the container's exit: no more probes; a probe under way is killed."""
        self.mon.cancel(self.timer)
        self.timer = None
        self._kill_probe()
        with contextlib.suppress(Exception):
            st = self.mon.store.read(self.mon.cid)
            self.mon.store.update(self.mon.cid, durable=False, health=stopped(st.health))

    def _schedule(self) -> None:
        self.timer = self.mon.call_later(float(self.cfg["interval"]), self._probe)

    def _probe(self) -> None:
        from .state import now_rfc3339

        self.timer = None
        _reap_strays(self.mon.pid)
        if self.mon.pidfd < 0 or self.probe_pid:
            return
        if self.mon.store.read(self.mon.cid).status == "paused":
            self._schedule()  # a probe would freeze with the container: no check while paused
            return
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        self.started_at = now_rfc3339()
        self.output.clear()
        self.timed_out = False
        pid = os.fork()
        if pid == 0:
            _probe_process(self.mon, list(self.cfg["argv"]), out_w)  # never returns
        os.close(out_w)
        self.probe_pid = pid
        self.probe_fd = os.pidfd_open(pid)
        self.out_fd = out_r
        os.set_blocking(out_r, False)
        self.mon.add_reader(out_r, self._on_output)
        self.mon.add_reader(self.probe_fd, self._on_done)
        self.timeout_timer = self.mon.call_later(float(self.cfg["timeout"]), self._on_timeout)

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.mon.remove_reader(fd)
            return
        if len(self.output) < MAX_OUTPUT:
            self.output += data[:MAX_OUTPUT - len(self.output)]

    def _on_timeout(self) -> None:
        self.timeout_timer = None
        if self.probe_pid:
            self.timed_out = True
            # SIGTERM: the probe kills its command first (see _probe_process); a probe that
            # does not go gets SIGKILL a little later.
            with contextlib.suppress(OSError):
                os.kill(self.probe_pid, signal.SIGTERM)
            self.timeout_timer = self.mon.call_later(2.0, self._force)

    def _force(self) -> None:
        self.timeout_timer = None
        if self.probe_pid:
            with contextlib.suppress(OSError):
                os.kill(self.probe_pid, signal.SIGKILL)

    def _on_done(self, fd: int) -> None:
        from . import launcher
        from .state import now_rfc3339

        _, status = os.waitpid(self.probe_pid, 0)
        code = launcher.exit_code_of(status)
        if self.out_fd >= 0:
            with contextlib.suppress(OSError):
                while len(self.output) < MAX_OUTPUT:
                    data = os.read(self.out_fd, 65536)
                    if not data:
                        break
                    self.output += data[:MAX_OUTPUT - len(self.output)]
        self._release()
        _reap_strays(self.mon.pid)
        if self.timed_out:
            code, text = -1, f"Health check exceeded timeout ({_duration(self.cfg['timeout'])})"
        else:
            text = _text(bytes(self.output))
        result = {"Start": self.started_at, "End": now_rfc3339(), "ExitCode": code, "Output": text}
        if self.mon.pidfd < 0:
            return  # the container exited meanwhile: its stop() already recorded the end
        in_start = time.monotonic() - self.since < float(self.cfg.get("start_period") or 0)
        with self.mon.store.locked(self.mon.cid):
            st = self.mon.store.read(self.mon.cid)
            new = record(st.health, result, in_start, int(self.cfg.get("retries") or DEFAULT_RETRIES))
            self.mon.store.write(self.mon.cid, st.replace(health=new), durable=False)
        self._schedule()

    def _kill_probe(self) -> None:
        """At the container's exit (its pid namespace, so the probe's command, is gone)."""
        if not self.probe_pid:
            return
        with contextlib.suppress(OSError):
            os.kill(self.probe_pid, signal.SIGKILL)
        # Bounded: a probe caught in a frozen cgroup dies only once thawed; the monitor must
        # not hang on it (the server, subreaper of the subtree, reaps it later).
        deadline = time.monotonic() + 1.0
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(self.probe_pid, os.WNOHANG)[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        self._release()

    def _release(self) -> None:
        self.mon.cancel(self.timeout_timer)
        self.timeout_timer = None
        for fd in (self.probe_fd, self.out_fd):
            if fd >= 0:
                self.mon.remove_reader(fd)
                os.close(fd)
        self.probe_fd = self.out_fd = -1
        self.probe_pid = 0


def _duration(seconds: float) -> str:
    """Go's time.Duration printing for the usual whole values (30s, 1m30s, 500ms)."""
    ms = int(round(float(seconds) * 1000))
    if ms < 1000:
        return f"{ms}ms"
    s, rem = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    frac = f".{rem:03d}".rstrip("0") if rem else ""
    out = f"{s}{frac}s"
    if m or h:
        out = f"{m}m" + out
    if h:
        out = f"{h}h" + out
    return out


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def _reap_strays(container_pid: int) -> None:
    """Reap children of the monitor that are not its container (a probe's command orphaned
    by a killed probe): the container's pid namespace cannot finish dying while one of its
    processes waits, as a zombie, for a parent outside it to reap it."""
    me = os.getpid()
    for pid in _children(me):
        if pid != container_pid:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


def _kill_children(*_args: Any) -> None:
    for pid in _children(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _probe_process(mon: Any, argv: list[str], out_w: int) -> None:
    """In the forked probe: become an exec helper for ``argv``; exit with its status.

    The probe enters the container itself (rather than forking a helper as `exec` does), so
    killing it at the timeout leaves no stray helper behind the monitor: the command, already
    in the container's pid namespace, is re-parented to the container's init.
    """
    code = 1
    try:
        from .. import fsutil
        from . import cgbridge, launcher
        from . import exec as exec_mod
        from . import syscalls as sc

        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        # Nothing of the monitor's (its sockets, the container's stdin) stays open here.
        sc.close_range(3, 0xFFFFFFFF, 0)
        with contextlib.suppress(OSError):
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
        # At the timeout the monitor sends SIGTERM: the command goes with the probe, so it is
        # never orphaned to the monitor (a zombie outside its pid namespace would hold the
        # container's exit back).
        signal.signal(signal.SIGTERM, _kill_children)
        spec = fsutil.read_json(f"{mon.run_dir}/spec.json")
        process = exec_mod.process_for_exec(spec, {"args": argv})
        ns_fds = exec_mod._open_namespaces(mon.pid)
        cg = cgbridge.for_spec(spec, mon.cid)
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        try:
            code = exec_mod._helper(spec, process, ns_fds, cg, False, False, False, (None, 1, 2), report_w, None)
        except launcher._Report as exc:  # in the command's process: it could not exec
            code = {"not_found": 127, "not_invokable": 126}.get(exc.kind, 1)
            with contextlib.suppress(OSError):
                os.write(2, f"{exc.msg}\n".encode())
    except BaseException as exc:  # noqa: BLE001 - the monitor reads the output and the status
        with contextlib.suppress(OSError):
            os.write(2, f"health check failed to run: {exc}\n".encode())
    finally:
        os._exit(code)
