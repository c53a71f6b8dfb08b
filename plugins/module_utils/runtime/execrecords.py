"""The records of running exec sessions: inspect's ExecIDs.

Apart from runtime/exec.py, which launches sessions: reading them (every inspect, every
idempotent module run) then imports none of the launcher.
"""
from __future__ import annotations

import contextlib
import os

EXECS_DIR = "execs"


def exec_ids(run_dir: str | os.PathLike[str]) -> list[str]:
    """Ids of the exec sessions running in a container (inspect's ExecIDs), oldest first;
    records of sessions whose helper is gone (killed with its caller) are dropped."""
    from .state import process_alive

    base = os.path.join(run_dir, EXECS_DIR)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(base, name)
        try:
            with open(path) as f:
                pid, start = (int(x) for x in f.read().split())
            mtime = os.stat(path).st_mtime_ns
        except (OSError, ValueError):
            continue
        if process_alive(pid, start):
            found.append((mtime, name))
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return [name for _, name in sorted(found)]


def record(run_dir: str | os.PathLike[str] | None, pid: int) -> str | None:
    """Note a running exec session (helper pid and start time) under its container's run dir."""
    if run_dir is None:
        return None
    import secrets

    from .state import proc_start_time

    exec_id = secrets.token_hex(32)
    base = os.path.join(run_dir, EXECS_DIR)
    with contextlib.suppress(OSError):
        os.makedirs(base, 0o700, exist_ok=True)
        path = os.path.join(base, exec_id)
        with open(path + ".tmp", "w") as f:
            f.write(f"{pid} {proc_start_time(pid) or 0}\n")
        os.replace(path + ".tmp", path)
        return path
    return None
