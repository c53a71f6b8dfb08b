"""``import --change`` and ``commit --change``: Dockerfile instructions applied to an image config.

The instructions are read with the builder's Dockerfile parser (build/parser.py), so quoting,
the JSON (exec) form and key=value pairs mean what they mean in a Dockerfile.
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import BuildError, InvalidSpec

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
           "WORKDIR")


def _unquote(word: str) -> str:
    from ..build.shell import process_word
    try:
        return process_word(word, {})
    except BuildError:
        return word


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of the container config (the image config's ``config``) with ``changes`` applied."""
    from ..build.parser import parse

    cfg = copy.deepcopy(config) if config else {}
    for line in changes:
        if not line or not line.strip():
            continue
        word = line.strip().split(None, 1)[0].upper()
        if word not in ALLOWED:
            raise InvalidSpec(f"{word} is not a valid change command (allowed: {', '.join(ALLOWED)})",
                              field="change", value=line)
        try:
            nodes = parse(line).ast.children
        except BuildError as exc:
            raise InvalidSpec(f"invalid change {line!r}: {exc}", field="change", value=line) from exc
        if len(nodes) != 1:
            raise InvalidSpec(f"invalid change {line!r}: expected one instruction", field="change", value=line)
        _apply(cfg, nodes[0], line)
    return cfg


def _apply(cfg: dict[str, Any], node: Any, line: str) -> None:
    name = node.value.upper()
    args = list(node.args)
    if name in ("CMD", "ENTRYPOINT"):
        value = args if node.json else (["/bin/sh", "-c", args[0]] if args and args[0] else [])
        cfg["Cmd" if name == "CMD" else "Entrypoint"] = value
        if name == "ENTRYPOINT" and "Cmd" in cfg and not node.json:
            cfg["Cmd"] = None   # a shell-form ENTRYPOINT ignores CMD, as docker makes it
        return
    if name in ("ENV", "LABEL"):
        if len(args) % 3 != 0 or not args:
            raise InvalidSpec(f"{name} needs key=value pairs: {line!r}", field="change", value=line)
        for i in range(0, len(args), 3):
            key, value = _unquote(args[i]), _unquote(args[i + 1])
            if not key:
                raise InvalidSpec(f"{name} names an empty key: {line!r}", field="change", value=line)
            if name == "ENV":
                env = [e for e in (cfg.get("Env") or []) if e.split("=", 1)[0] != key]
                env.append(f"{key}={value}")
                cfg["Env"] = env
            else:
                labels = dict(cfg.get("Labels") or {})
                labels[key] = value
                cfg["Labels"] = labels
        return
    if name == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in args:
            p = _unquote(p)
            port, _, proto = p.partition("/")
            if not port.replace("-", "").isdigit():
                raise InvalidSpec(f"invalid port {p!r} in {line!r}", field="change", value=line)
            ports[f"{port}/{(proto or 'tcp').lower()}"] = {}
        cfg["ExposedPorts"] = ports
        return
    if name == "VOLUME":
        vols = dict(cfg.get("Volumes") or {})
        for v in args:
            v = _unquote(v)
            if not v:
                raise InvalidSpec(f"VOLUME names an empty path: {line!r}", field="change", value=line)
            vols[v] = {}
        cfg["Volumes"] = vols
        return
    if name in ("USER", "WORKDIR", "STOPSIGNAL"):
        if len(args) != 1:
            raise InvalidSpec(f"{name} takes exactly one argument: {line!r}", field="change", value=line)
        key = {"USER": "User", "WORKDIR": "WorkingDir", "STOPSIGNAL": "StopSignal"}[name]
        value = _unquote(args[0])
        if name == "WORKDIR" and not value.startswith("/"):
            value = "/" + value
        cfg[key] = value
        return
    if name == "ONBUILD":
        inner = line.strip()[len("ONBUILD"):].strip()
        if not inner:
            raise InvalidSpec(f"ONBUILD needs an instruction: {line!r}", field="change", value=line)
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [inner]
        return
