"""`commit`: a container's changes as a new image layer, with its config and `-c` changes."""
from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, InvalidSpec

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine
    from ..store.images import ImageRecord

COMMIT_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
               "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
               "OnBuild", "Labels", "StopSignal", "Healthcheck")
CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR",
                       "STOPSIGNAL")


def _json_or_shell(value: str) -> list[str]:
    v = value.strip()
    if v.startswith("["):
        try:
            parsed = json.loads(v)
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                return parsed
        except ValueError:
            pass
    return ["/bin/sh", "-c", v]


def _pairs(value: str, instr: str) -> list[tuple[str, str]]:
    words = shlex.split(value)
    if words and "=" not in words[0]:
        if len(words) < 2 and instr == "ENV":
            raise InvalidSpec(f"{instr} needs a value: {value!r}", field="change", value=value)
        return [(words[0], value.split(None, 1)[1] if len(words) > 1 else "")]
    out = []
    for w in words:
        k, sep, v = w.partition("=")
        if not sep:
            raise InvalidSpec(f"{instr}: expected KEY=VALUE, got {w!r}", field="change", value=value)
        out.append((k, v))
    return out


def apply_changes(cfg: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Docker's `commit -c` / `import --change`: a subset of Dockerfile instructions (pure)."""
    cfg = dict(cfg)
    for change in changes:
        instr, _, rest = change.strip().partition(" ")
        instr = instr.upper()
        if instr not in CHANGE_INSTRUCTIONS:
            raise InvalidSpec(f"{instr} is not a valid change command", field="change", value=change)
        if instr == "CMD":
            cfg["Cmd"] = _json_or_shell(rest)
        elif instr == "ENTRYPOINT":
            cfg["Entrypoint"] = _json_or_shell(rest)
        elif instr == "ENV":
            env = {e.split("=", 1)[0]: e for e in cfg.get("Env") or []}
            for k, v in _pairs(rest, "ENV"):
                env[k] = f"{k}={v}"
            cfg["Env"] = list(env.values())
        elif instr == "LABEL":
            cfg["Labels"] = dict(cfg.get("Labels") or {}, **dict(_pairs(rest, "LABEL")))
        elif instr == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in rest.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            cfg["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            for v in (json.loads(rest) if rest.strip().startswith("[") else rest.split()):
                vols[v] = {}
            cfg["Volumes"] = vols
        elif instr == "USER":
            cfg["User"] = rest.strip()
        elif instr == "WORKDIR":
            cfg["WorkingDir"] = rest.strip()
        elif instr == "STOPSIGNAL":
            cfg["StopSignal"] = rest.strip()
        elif instr == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest.strip()]
    return cfg


def commit(engine: Engine, ref: str, repository: str | None, author: str = "", message: str = "",
           changes: list[str] | None = None, pause: bool = True) -> ImageRecord:
    from ..runtime.state import now_rfc3339
    from ..store import oci
    from .inspect import config as container_config
    from .listing import command_string

    svc = engine.containers
    cid = svc.resolve(ref)
    with svc.store.locked(cid):
        rec = svc.store.read(cid)
        cfg = {k: v for k, v in container_config(rec).items() if k in COMMIT_KEYS}
        cfg = apply_changes(cfg, list(changes or []))
        st = svc.state(cid)
        paused_here = False
        if pause and st["Running"] and not st["Paused"]:
            engine.runtime.pause(cid)
            paused_here = True
        try:
            _chain, diff_id, digest = engine.snapshots.commit(cid)
        finally:
            if paused_here:
                engine.runtime.resume(cid)
    try:
        base = engine.images.get(rec.image_id)
        base_cfg, base_layers, parent = dict(base.config), [dict(x) for x in base.layers], base.id
    except BerthError:
        raise InvalidSpec(f"the image {rec.image_id} of container {cid[:12]} is gone; cannot commit",
                          field="image", value=rec.image_id) from None
    now = now_rfc3339()
    history = list(base_cfg.get("history") or [])
    entry: dict[str, Any] = {"created": now, "created_by": command_string(rec)}
    if author:
        entry["author"] = author
    if message:
        entry["comment"] = message
    history.append(entry)
    new_cfg = {k: v for k, v in base_cfg.items() if k not in ("config", "container_config", "history", "rootfs")}
    new_cfg.update({
        "created": now, "config": cfg, "container": cid, "history": history,
        "rootfs": {"type": "layers", "diff_ids": [x["diff_id"] for x in base_layers] + [diff_id]},
    })
    if author:
        new_cfg["author"] = author
    if message:
        new_cfg["comment"] = message
    layers = base_layers + [{"digest": digest, "media_type": oci.OCI_LAYER,
                             "size": engine.content.size(digest), "diff_id": diff_id}]
    names = [repository] if repository else []
    return engine.images.create(json.dumps(new_cfg, sort_keys=True).encode(), layers, names, parent=parent)
