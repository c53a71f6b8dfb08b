"""``network ls --filter``: Docker's filters over inspect data; pure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidSpec

KEYS = ("driver", "id", "label", "name", "scope", "type", "dangling")


def parse(values: Sequence[str]) -> dict[str, list[str]]:
    """``["name=web", "label=a=b"]`` -> ``{"name": ["web"], "label": ["a=b"]}``."""
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise InvalidSpec(f"bad format of filter (expected name=value): {v!r}", field="filter", value=v)
        out.setdefault(key.strip().lower(), []).append(value)
    check(out)
    return out


def check(filters: Mapping[str, Sequence[str]]) -> None:
    for key, values in filters.items():
        if key not in KEYS:
            raise InvalidSpec(f"invalid filter {key!r}", field="filter", value=key)
        for v in values:
            if key == "type" and v not in ("custom", "builtin"):
                raise InvalidSpec(f"invalid filter 'type={v}': expected custom or builtin", field="filter",
                                  value=v)
            if key == "dangling" and v.lower() not in ("true", "false", "1", "0"):
                raise InvalidSpec(f"invalid filter 'dangling={v}': expected true or false", field="filter",
                                  value=v)


def label_matches(labels: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def matches(data: Mapping[str, Any], builtin: bool, filters: Mapping[str, Sequence[str]],
            in_use: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """Values of one key are OR'ed, keys are AND'ed (labels: every label must match)."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "driver" and data["Driver"] not in values:
            return False
        if key == "id" and not any(data["Id"].startswith(v) for v in values):
            return False
        if key == "name" and not any(v in data["Name"] for v in values):
            return False
        if key == "scope" and data["Scope"] not in values:
            return False
        if key == "type" and not any((v == "builtin") == builtin for v in values):
            return False
        if key == "label" and not all(label_matches(data.get("Labels") or {}, v) for v in values):
            return False
        if key == "dangling":
            want = values[-1].lower() in ("true", "1")
            used = bool(data.get("Containers")) or data["Name"] in in_use or data["Id"] in in_use
            dangling = not builtin and not used
            if dangling != want:
                return False
    return True
