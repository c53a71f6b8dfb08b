"""``ps``: container summaries in the shape of Docker's /containers/json, filters, status text."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, InvalidSpec

if TYPE_CHECKING:  # pragma: no cover
    from .records import ContainerRecord
    from .service import ContainerService

FILTERS = ("status", "name", "label", "ancestor", "id", "exited", "before", "since", "network", "volume",
           "health", "publish", "expose", "is-task", "until")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration ("Less than a second", "About a minute", "3 hours")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _seconds(ts: str) -> float:
    from ..runtime.state import ZERO_TIME, parse_rfc3339
    if not ts or ts == ZERO_TIME:
        return 0.0
    return parse_rfc3339(ts) / 1e9


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    status = state["Status"]
    if status in ("running", "paused"):
        text = "Up " + human_duration(now - _seconds(state["StartedAt"]))
        if status == "paused":
            text += " (Paused)"
        health = (state.get("Health") or {}).get("Status")
        if health and health != "none":
            text += f" ({'health: starting' if health == 'starting' else health})"
        return text
    if status == "restarting":
        return f"Restarting ({state['ExitCode']}) {human_duration(now - _seconds(state['FinishedAt']))} ago"
    if status == "exited":
        if _seconds(state["FinishedAt"]) == 0:
            return f"Exited ({state['ExitCode']})"
        return f"Exited ({state['ExitCode']}) {human_duration(now - _seconds(state['FinishedAt']))} ago"
    if status == "dead":
        return "Dead"
    if status == "removing":
        return "Removal In Progress"
    return "Created"


def command_string(rec: ContainerRecord) -> str:
    return " ".join([rec.path, *rec.args])


def port_list(rec: ContainerRecord, running: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen = set()
    if running:
        for p in rec.ports:
            d = {"PrivatePort": p["container_port"], "Type": p["protocol"]}
            if p.get("host_port"):
                d.update({"IP": p.get("host_ip") or "0.0.0.0", "PublicPort": p["host_port"]})
            out.append(d)
            seen.add((p["container_port"], p["protocol"]))
    exposed = list(rec.image_config.get("ExposedPorts") or {}) + list(rec.spec.expose)
    for key in exposed:
        port, _, proto = key.partition("/")
        if port.isdigit() and (int(port), proto or "tcp") not in seen:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
            seen.add((int(port), proto or "tcp"))
    return out


def summary(service: ContainerService, rec: ContainerRecord, state: dict[str, Any],
            size: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": rec.id,
        "Names": ["/" + rec.name],
        "Image": rec.image_name,
        "ImageID": rec.image_id,
        "Command": command_string(rec),
        "Created": int(_seconds(rec.created)),
        "CreatedAt": rec.created,
        "Ports": port_list(rec, state["Running"]),
        "Labels": {**(rec.image_config.get("Labels") or {}), **rec.spec.labels},
        "State": state["Status"],
        "Status": status_text(state),
        "HostConfig": {"NetworkMode": rec.spec.network_mode},
        "NetworkSettings": {"Networks": {k: dict(v) for k, v in rec.networks.items()}},
        "Mounts": [dict(m) for m in rec.mounts],
    }
    if size:
        rw = service.size_rw(rec.id)
        out["SizeRw"] = rw
        try:
            out["SizeRootFs"] = rw + int(service.engine.images.get(rec.image_id).size)
        except BerthError:
            out["SizeRootFs"] = rw
    return out


def check_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in FILTERS:
            raise InvalidSpec(f"invalid filter '{key}'", field="filter", value=key)
        if key == "status":
            for v in values:
                if v not in STATUSES:
                    raise InvalidSpec(f"invalid filter 'status={v}'", field="filter", value=v)
        if key == "exited":
            for v in values:
                if not v.lstrip("-").isdigit():
                    raise InvalidSpec(f"invalid filter 'exited={v}'", field="filter", value=v)


def _created_ns(rec: ContainerRecord) -> int:
    from ..runtime.state import parse_rfc3339
    return parse_rfc3339(rec.created)


def match_filters(service: ContainerService, rec: ContainerRecord, state: dict[str, Any],
                  filters: dict[str, list[str]], prune: bool = False) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "status" and state["Status"] not in values:
            return False
        if key == "name" and not any(re.search(v.lstrip("/"), rec.name) or re.search(v, "/" + rec.name)
                                     for v in values):
            return False
        if key == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if key == "label":
            labels = {**(rec.image_config.get("Labels") or {}), **rec.spec.labels}
            for v in values:
                k, sep, val = v.partition("=")
                neg = k.endswith("!")
                k = k.rstrip("!")
                hit = k in labels and (not sep or labels[k] == val)
                if hit == neg:
                    return False
        if key == "exited":
            if state["Status"] != "exited" or str(state["ExitCode"]) not in values:
                return False
        if key == "ancestor" and not any(_is_ancestor(service, rec, v) for v in values):
            return False
        if key in ("before", "since"):
            for v in values:
                other = service.store.read(service.resolve(v))
                mine, theirs = _created_ns(rec), _created_ns(other)
                if (key == "before" and mine >= theirs) or (key == "since" and mine <= theirs):
                    return False
        if key == "until":
            from ..runtime.logs import parse_since
            limit = parse_since(values[0])
            if limit is not None and _created_ns(rec) > limit:
                return False
        if key == "network":
            nets = set(rec.networks) | {ep.get("NetworkID", "") for ep in rec.networks.values()}
            nets.add(rec.spec.network_mode)
            if not any(v in nets or any(n.startswith(v) for n in nets if len(v) >= 3) for v in values):
                return False
        if key == "volume":
            vols = {m.get("Name") for m in rec.mounts} | {m.get("Destination") for m in rec.mounts} \
                | {m.get("Source") for m in rec.mounts}
            if not any(v in vols for v in values):
                return False
        if key == "health":
            health = (state.get("Health") or {}).get("Status", "none")
            if health not in values:
                return False
        if key == "publish" and not any(_port_matches(rec.ports, v, "host_port") for v in values):
            return False
        if key == "expose" and not any(_port_matches(rec.ports, v, "container_port") for v in values):
            return False
    return True


def _port_matches(ports: Any, value: str, field: str) -> bool:
    port, _, proto = value.partition("/")
    for p in ports:
        if str(p.get(field)) == port and (not proto or p.get("protocol") == proto):
            return True
    return False


def _is_ancestor(service: ContainerService, rec: ContainerRecord, value: str) -> bool:
    if rec.image_name == value or rec.image_id == value or rec.image_id.startswith(f"sha256:{value}"):
        return True
    try:
        return service.engine.images.get(value).id == rec.image_id
    except BerthError:
        return False


def list_containers(service: ContainerService, all: bool, filters: dict[str, list[str]],
                    last: int | None = None, size: bool = False) -> list[dict[str, Any]]:
    check_filters(filters)
    rows = []
    for rec in service.store.all():
        st = service.state(rec.id)
        rows.append((rec, st))
    rows.sort(key=lambda r: _created_ns(r[0]), reverse=True)
    if last is not None and last > 0:
        rows = rows[:last]
        all = True
    out = []
    for rec, st in rows:
        if not all and not filters.get("status") and st["Status"] not in ("running", "paused", "restarting"):
            continue
        if not match_filters(service, rec, st, filters):
            continue
        out.append(summary(service, rec, st, size=size))
    return out
