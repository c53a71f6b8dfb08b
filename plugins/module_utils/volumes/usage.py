"""Which containers use which volumes, asked of the container service through the engine.

Volumes never import containers (leaf packages stay apart); the CLI and the module pass the
engine here, and this reads the container records the service exposes. Until the container
service exists, no volume is in use.
"""
from __future__ import annotations

from typing import Any


def volume_users(engine: Any) -> dict[str, list[str]]:
    """volume name -> ids of the containers (running or not) that mount it."""
    try:
        containers = engine.containers
    except (ImportError, AttributeError):
        return {}
    finder = getattr(containers, "volume_users", None)
    if callable(finder):
        return {k: list(v) for k, v in finder().items()}
    store = getattr(containers, "store", None)
    if store is None or not hasattr(store, "all"):
        return {}
    out: dict[str, list[str]] = {}
    for rec in store.all():
        for m in getattr(rec, "mounts", ()) or ():
            if m.get("Type") == "volume" and m.get("Name"):
                out.setdefault(m["Name"], []).append(rec.id)
    return out
