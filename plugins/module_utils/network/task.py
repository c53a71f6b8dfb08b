"""The network module's one engine call: the network itself, then the containers on it.

Connecting containers is the container service's job (it records the endpoint in the
container); this only decides who must be connected or disconnected, through the engine.
"""
from __future__ import annotations

from typing import Any

from ..errors import BerthError
from ..types import Change
from .model import NetworkSpec


def _container_call(engine: Any, method: str) -> Any:
    fn = getattr(engine.containers, method, None)
    if fn is None:
        raise BerthError(f"connected: the container service cannot {method.replace('_', ' ')} yet")
    return fn


def run_network_task(engine: Any, params: dict[str, Any], apply: bool) -> Change:
    name = params["name"]
    nets = engine.networks
    if params["state"] == "absent":
        if params.get("force") and apply:
            rec = nets.store.find(name)
            if rec is not None and rec.name == name:
                for cid in nets.store.endpoints(rec.id):
                    fn = getattr(engine.containers, "network_disconnect", None)
                    if fn is not None:
                        fn(cid, rec.id, force=True)
        return nets.ensure(name, None, apply=apply, force=params.get("force", False))
    spec = NetworkSpec.from_params(params)
    change = nets.ensure(name, spec, apply=apply, force=params.get("force", False))
    wanted = params.get("connected")
    if wanted is None:
        return change
    if not apply and change.changed:
        # The network does not exist yet (or will be re-created empty): all of them connect.
        after = dict(change.after or {})
        actions = change.actions + tuple(f"connect {c} to {name}" for c in wanted)
        return Change(True, change.before, after, actions)
    conn = nets.ensure_connected(
        name, wanted, bool(params.get("appends")),
        connect=lambda ref: _container_call(engine, "network_connect")(ref, name),
        disconnect=lambda ref: _container_call(engine, "network_disconnect")(ref, name, force=True),
        apply=apply)
    if not conn.changed:
        return change
    return Change(True, change.before if change.changed else conn.before, conn.after,
                  change.actions + conn.actions)
