"""A container's run state on disk (root/containers/<id>/state.json) and its reconciliation.

The monitor is the usual writer; the runtime writes pause/resume and reconciliation. Every
write is atomic and made under the container's state lock, so readers see whole states and
concurrent writers do not lose each other's fields.

A pid alone does not name a process for long: pids are reused. Each recorded pid carries the
process's start time (field 22 of /proc/<pid>/stat, in clock ticks since boot), and a pid whose
start time differs is a different process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fsutil
from ..paths import Paths
from ..types import check_hex_id

STATUSES = ("created", "running", "paused", "restarting", "exited", "dead")
ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    return format_rfc3339(time.time_ns())


def format_rfc3339(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's RFC3339Nano prints UTC."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def parse_rfc3339(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 timestamp (UTC 'Z' or an offset)."""
    import calendar

    main, _, rest = text.partition(".")
    if not rest:
        for sep in ("Z", "+", "-"):
            idx = main.find(sep, 19)
            if idx != -1:
                main, rest = main[:idx], main[idx:]
                break
    frac_digits = ""
    i = 0
    while i < len(rest) and rest[i].isdigit():
        i += 1
    frac_digits, tz = rest[:i], rest[i:]
    secs = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        hh, mm = tz[1:].split(":")
        secs -= sign * (int(hh) * 3600 + int(mm) * 60)
    return secs * 1_000_000_000 + int((frac_digits + "000000000")[:9] or 0)


def proc_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if there is no such process."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):  # a zombie has exited: its status is waiting to be read
        return None
    return int(fields[19])


def process_alive(pid: int, start: int | None) -> bool:
    if not pid:
        return False
    now = proc_start_time(pid)
    return now is not None and (start is None or now == start)


@dataclass(frozen=True)
class ContainerState:
    status: str = "created"
    pid: int = 0
    pid_start: int | None = None
    monitor_pid: int = 0
    monitor_start: int | None = None
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    manually_stopped: bool = False
    tty: bool = False
    health: dict[str, Any] | None = None     # State.Health (runtime/health.py), None: no check

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes: Any) -> ContainerState:
        return dataclasses.replace(self, **changes)

    @property
    def active(self) -> bool:
        """A process (or a pending restart) exists for this container."""
        return self.status in ("running", "paused", "restarting")

    def to_docker(self) -> dict[str, Any]:
        """Docker's State object, plus RestartCount (which Docker keeps beside it)."""
        running = self.status in ("running", "paused")
        out = {
            "Status": self.status,
            "Running": running,
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid if running else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
            "RestartCount": self.restart_count,
        }
        if self.health is not None:
            out["Health"] = self.health
        return out


class StateStore:
    """state.json of each container, with the lock that serialises its writers."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def dir(self, cid: str) -> Path:
        return self.paths.containers / check_hex_id(cid, "container id")

    def file(self, cid: str) -> Path:
        return self.dir(cid) / "state.json"

    def run_dir(self, cid: str) -> Path:
        return self.paths.run_containers / check_hex_id(cid, "container id")

    def exit_file(self, cid: str) -> Path:
        """Written as soon as an exit status is known (monitor or server), before state.json."""
        return self.run_dir(cid) / "exit.json"

    def lock_path(self, cid: str) -> Path:
        return self.paths.lock(f"runtime-state-{cid}")

    @contextlib.contextmanager
    def locked(self, cid: str) -> Iterator[None]:
        with fsutil.locked(self.lock_path(check_hex_id(cid, "container id"))):
            yield

    def read(self, cid: str) -> ContainerState:
        data = fsutil.read_json(self.file(cid), default=None)
        return ContainerState() if data is None else ContainerState.from_dict(data)

    def write(self, cid: str, state: ContainerState, durable: bool = True) -> None:
        if state.status not in STATUSES:
            raise ValueError(f"unknown container status {state.status!r}")
        fsutil.write_json(self.file(cid), state.to_dict(), durable=durable)

    def update(self, cid: str, durable: bool = True, **changes: Any) -> ContainerState:
        """Read, change and write under the lock. ``durable=False`` skips the fsyncs (the
        rename stays atomic) for facts a reboot makes moot anyway, such as "running"."""
        with self.locked(cid):
            new = self.read(cid).replace(**changes)
            self.write(cid, new, durable=durable)
            return new

    def read_exit(self, cid: str) -> dict[str, Any] | None:
        try:
            return fsutil.read_json(self.exit_file(cid), default=None)
        except Exception:  # noqa: BLE001 - a torn file from a crash is as good as none
            return None

    def write_exit(self, cid: str, code: int, oom: bool = False, pid: int = 0) -> None:
        fsutil.write_json(self.exit_file(cid), {"code": code, "oom": oom, "pid": pid,
                                                "time": now_rfc3339()}, durable=False)


def plan_reconcile(st: ContainerState, monitor_alive: bool, process_alive_: bool,
                   exit_record: dict[str, Any] | None) -> ContainerState | None:
    """What state.json should say, given what is alive; None when it already tells the truth.

    Pure, so every case is unit tested: the runtime feeds it the liveness it observed.
    """
    if not st.active or monitor_alive:
        return None
    if st.status == "restarting":
        # The monitor died between two runs: nobody will restart the container now.
        return st.replace(status="exited", pid=0, pid_start=None, monitor_pid=0)
    if process_alive_:
        return None  # still running; a new monitor may adopt it
    if exit_record is not None and exit_record.get("pid") in (st.pid, 0):
        return st.replace(status="exited", exit_code=int(exit_record["code"]),
                          oom_killed=bool(exit_record.get("oom")), pid=0, pid_start=None,
                          monitor_pid=0, finished_at=exit_record.get("time") or now_rfc3339())
    return st.replace(status="exited", exit_code=255, pid=0, pid_start=None, monitor_pid=0,
                      error="the container's monitor died and its exit status was lost",
                      finished_at=now_rfc3339())


def cleanup_exit_file(store: StateStore, cid: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(store.exit_file(cid))
