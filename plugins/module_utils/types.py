"""Plain data shared between the engine's packages.

Leaf packages (store, registry, runtime, network, volumes) never import each other: they
exchange these values, and engine.py wires them together.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InvalidSpec

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


def check_digest(value: str, field_name: str = "digest") -> str:
    """Validate an ``algorithm:hex`` digest before any path or URL is built from it."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise InvalidSpec(f"invalid {field_name} {value!r}: expected sha256:<64 hex digits>",
                          field=field_name, value=value)
    return value


def is_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_DIGEST_RE.match(value))


def check_hex_id(value: str, field_name: str = "id") -> str:
    if not isinstance(value, str) or not _HEX64_RE.match(value):
        raise InvalidSpec(f"invalid {field_name} {value!r}: expected 64 hex digits", field=field_name, value=value)
    return value


def digest_hex(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


@dataclass(frozen=True)
class Mount:
    """A mount as the kernel takes it; what snapshotters and volumes hand to the runtime."""

    type: str
    source: str
    target: str = ""
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["options"] = list(self.options)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mount:
        return cls(d["type"], d["source"], d.get("target", ""), tuple(d.get("options", ())))


@dataclass(frozen=True)
class Change:
    """What an idempotent ``ensure`` did (or would do, in check mode)."""

    changed: bool
    before: Any = None
    after: Any = None
    actions: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def none(cls, state: Any) -> Change:
        return cls(False, state, state, ())

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "actions": list(self.actions),
                "diff": {"before": self.before, "after": self.after}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        diff = d.get("diff") or {}
        return cls(bool(d["changed"]), diff.get("before"), diff.get("after"), tuple(d.get("actions") or ()))
