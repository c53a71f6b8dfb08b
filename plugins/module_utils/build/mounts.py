"""``RUN --mount=...``: the mounts a RUN step gets besides its rootfs.

A mount is a CSV list of ``key=value`` fields (``type=cache,target=/root/.cache,id=pip``).
Values are expanded with the variables in scope when the step runs, so at parse time a value
containing ``$`` is kept as written and checked later; ``parse_mount(spec, expand)`` is called
again with the stage's expander by ``Run.expand``. Defaults follow BuildKit: bind mounts are
read-only unless ``rw``; cache mounts default their id to the target and share it; secrets land
in /run/secrets/<id>.
"""
from __future__ import annotations

import csv
import posixpath
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from .values import go_bool, ram_in_bytes

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro",
         "readwrite", "rw", "required", "id", "sharing", "mode", "uid", "gid", "size", "env")


class MountError(ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class RunMount:
    spec: str                     # the flag value as written
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""               # a stage name or index, an image, or "" for the context
    readonly: bool = True
    id: str = ""                  # cache id, secret id or ssh id
    sharing: str = ""             # cache mounts: shared (default), private or locked
    required: bool = False        # secret and ssh mounts: fail when not provided
    mode: int | None = None       # file mode of the mount point (cache, secret, ssh)
    uid: int | None = None
    gid: int | None = None
    size: int | None = None       # tmpfs size in bytes
    env: str | None = None        # secret exposed as this environment variable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fields(spec: str) -> list[str]:
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as exc:
        raise MountError(f"failed to parse csv mounts: {exc}") from None
    return rows[0] if rows else []


def parse_mount(spec: str, expand: Callable[[str], str] | None = None, index: int = 0) -> RunMount:
    """Parse one --mount value. Without ``expand`` (parse time), values holding a variable
    are stored unchecked; with it (run time), every value is expanded and checked.
    ``index`` numbers ssh mounts for their default target."""
    kw: dict[str, Any] = {"spec": spec}
    mtype = "bind"
    ro_auto = True
    deferred = type_deferred = False
    for fld in _fields(spec):
        key, eq, value = fld.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                kw["readonly"], ro_auto = True, False
            elif key in ("readwrite", "rw"):
                kw["readonly"], ro_auto = False, False
            elif key == "required":
                if mtype not in ("secret", "ssh") and not type_deferred:
                    raise MountError(f"unexpected key '{key}' for mount type '{mtype}'")
                kw["required"] = True
            else:
                raise MountError(f"invalid field '{fld}' must be a key=value pair")
            continue
        if key not in _KEYS:
            raise MountError(f"unexpected key '{key}' in '{fld}'")
        if expand is not None:
            value = expand(value)
        elif "$" in value:
            if key == "from" and value.index("$") != len(value) - 1:
                raise MountError(f"'{key}' doesn't support variable expansion, define alias stage instead")
            deferred = True
            if key in _TEXT_KEYS:
                kw[_ATTR.get(key, key)] = value   # kept as written until the step runs
            elif key == "type":
                type_deferred = True
            elif key in ("readonly", "ro", "readwrite", "rw"):
                ro_auto = False
            continue
        if key == "type":
            mtype = value.lower()
            if mtype not in MOUNT_TYPES:
                raise MountError(f"unsupported mount type {value!r}")
            kw["type"] = mtype
        elif key in ("readonly", "ro", "readwrite", "rw"):
            try:
                flag = go_bool(value)
            except ValueError:
                raise MountError(f"invalid value for {key}: {value}") from None
            kw["readonly"] = flag if key in ("readonly", "ro") else not flag
            ro_auto = False
        elif key == "required":
            if mtype not in ("secret", "ssh"):
                raise MountError(f"unexpected key '{key}' for mount type '{mtype}'")
            try:
                kw["required"] = go_bool(value)
            except ValueError:
                raise MountError(f"invalid value for {key}: {value}") from None
        elif key == "sharing":
            if value.lower() not in SHARING_MODES:
                raise MountError(f"unsupported sharing value {value!r}")
            kw["sharing"] = value.lower()
        elif key in ("mode", "uid", "gid"):
            try:
                number = int(value, 8 if key == "mode" else 10)
                if not 0 <= number < 1 << 32 or value.startswith(("+", "-")):
                    raise ValueError(value)
            except ValueError:
                raise MountError(f"invalid value {value} for {key}") from None
            kw[key] = number
        elif key == "size":
            if mtype != "tmpfs":
                raise MountError(f"unexpected key '{key}' for mount type '{mtype}'")
            try:
                kw["size"] = ram_in_bytes(value)
            except ValueError:
                raise MountError(f"invalid value for {key}: {value}") from None
        else:
            kw[_ATTR.get(key, key)] = value
    if ro_auto:
        kw["readonly"] = mtype not in ("cache", "tmpfs")
    mount = RunMount(**kw)
    return mount if type_deferred else _validate(mount, deferred, index)


_TEXT_KEYS = frozenset({"from", "source", "src", "target", "dst", "destination", "id", "env"})
_ATTR = {"src": "source", "dst": "target", "destination": "target", "from": "from_",
         "ro": "readonly", "rw": "readonly", "readwrite": "readonly"}


def _validate(m: RunMount, deferred: bool, index: int) -> RunMount:
    t = m.type
    if t not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if getattr(m, key) is not None:
                raise MountError(f"{key} not allowed for {t!r} type mounts")
    if m.sharing and t != "cache":
        raise MountError(f"invalid cache sharing set for {t} mount")
    if m.env is not None and t != "secret":
        raise MountError(f"unexpected key 'env' for mount type '{t}'")
    if t == "secret":
        if m.from_:
            raise MountError("secret mount should not have a from")
        if not (m.source or m.target or m.id or m.env):
            raise MountError("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise MountError("both source and id can't be set")
    if deferred:
        return m
    changes: dict[str, Any] = {}
    if t in ("bind", "cache", "tmpfs") and not m.target:
        raise MountError(f"mount target is required for type={t} mounts")
    if t == "cache":
        changes["id"] = m.id or m.target
        changes["sharing"] = m.sharing or "shared"
    elif t == "secret":
        ident = m.source or m.id or posixpath.basename(m.target)
        changes["id"] = ident
        changes["source"] = ""
        if not m.target and m.env is None:
            changes["target"] = "/run/secrets/" + posixpath.basename(ident)
        if m.mode is None:
            changes["mode"] = 0o400
    elif t == "ssh":
        changes["id"] = m.id or "default"
        if not m.target:
            changes["target"] = f"/run/buildkit/ssh_agent.{index}"
        if m.mode is None:
            changes["mode"] = 0o600
    return replace(m, **changes) if changes else m
