"""Stop everything the runtime started under one pair of roots (tests, `system` teardown).

Kills, by recorded pid and start time (never by name), the monitor server, every monitor and
every container process recorded in state.json under ``paths``, then removes their cgroups.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time

from .. import fsutil
from ..paths import Paths
from . import cgbridge
from .state import StateStore, proc_start_time


def _kill(pid: int, start: int | None) -> None:
    if pid <= 0 or start is None or proc_start_time(pid) != start:
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if proc_start_time(pid) == start:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(fd)


def _server(paths: Paths) -> tuple[int, int | None]:
    try:
        pid_s, start_s = (paths.run / "monitor.pid").read_text().split()
        return int(pid_s), int(start_s)
    except (OSError, ValueError):
        return 0, None


def stop_all(paths: Paths, timeout: float = 5.0) -> None:
    store = StateStore(paths)
    pid, start = _server(paths)
    _kill(pid, start)
    victims: list[tuple[int, int | None]] = [(pid, start)]
    cids = []
    with contextlib.suppress(FileNotFoundError):
        cids = [c for c in os.listdir(paths.containers) if len(c) == 64]
    for cid in cids:
        try:
            st = store.read(cid)
        except Exception:  # noqa: BLE001 - a half-written test folder
            continue
        for p, s in ((st.monitor_pid, st.monitor_start), (st.pid, st.pid_start)):
            _kill(p, s)
            victims.append((p, s))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
            p > 0 and s is not None and proc_start_time(p) == s for p, s in victims):
        time.sleep(0.01)
    for cid in cids:
        spec = fsutil.read_json(store.run_dir(cid) / "spec.json", default=None)
        if spec is None:
            continue
        with contextlib.suppress(Exception):
            cg = cgbridge.for_spec(spec, cid)
            cg.kill_all()
            cg.remove()
