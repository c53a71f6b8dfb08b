"""Remove every kernel object a berth root's networks made: for tests' teardown, and for an
engine root being thrown away. The records stay (they go with the root's folder).

Nothing is imported or touched when the root never used a network.
"""
from __future__ import annotations

import contextlib
import os

from ..errors import BerthError
from ..paths import Paths


def release_all(paths: Paths) -> list[str]:
    """Veths, namespaces, published ports, bridges and the firewall table of this root.
    Returns what could not be removed (empty when all went)."""
    if not (paths.networks.exists() or paths.run_networks.exists() or paths.netns.exists()):
        return []
    from .. import fsutil
    from . import bridge, netns
    from .service import NetworkService
    from .store import LOCK

    svc = NetworkService(paths)
    problems: list[str] = []
    with fsutil.locked(paths.lock(LOCK)):
        for rec in svc.store.records():
            for ep in svc.store.endpoints(rec.id).values():
                try:
                    bridge.delete_link(ep.host_ifname)
                except BerthError as exc:
                    problems.append(str(exc))
            svc.store.save_endpoints(rec.id, {})
        for cid in list(svc.store.ports()):
            svc.store.save_ports(cid, None)
        for rec in svc.store.records():
            if rec.is_bridge:
                try:
                    bridge.delete_link(rec.bridge)
                except BerthError as exc:
                    problems.append(str(exc))
        try:
            svc.firewall.remove()
        except BerthError as exc:
            problems.append(str(exc))
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(paths.netns):
            try:
                netns.delete_netns(paths.netns / name)
            except BerthError as exc:
                problems.append(str(exc))
    return problems
