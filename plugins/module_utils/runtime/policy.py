"""Pure decisions of a monitor: signal names, Docker's restart policies and back-off."""
from __future__ import annotations

import signal
from typing import Any

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0


def signal_number(name: str | int | None, default: int = signal.SIGTERM) -> int:
    if name is None or name == "":
        return default
    if isinstance(name, int) or str(name).isdigit():
        return int(name)
    n = str(name).upper()
    if not n.startswith("SIG"):
        n = "SIG" + n
    if n.startswith("SIGRTMIN+"):
        return signal.SIGRTMIN + int(n[9:])
    if n.startswith("SIGRTMAX-"):
        return signal.SIGRTMAX - int(n[9:])
    return int(getattr(signal, n))


def should_restart(policy: dict[str, Any], exit_code: int, restart_count: int,
                   manually_stopped: bool) -> bool:
    """Docker's restart manager decision (pure)."""
    if manually_stopped:
        return False
    name = (policy or {}).get("name") or "no"
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        retries = int(policy.get("max_retries") or 0)
        return exit_code != 0 and (retries == 0 or restart_count < retries)
    return False


def next_backoff(previous: float, ran_for: float) -> float:
    """100 ms, doubling up to a minute; back to 100 ms after a run of 10 s or more."""
    if ran_for >= BACKOFF_RESET_AFTER or previous <= 0:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)
