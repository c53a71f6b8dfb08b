"""``--filter key=value`` as docker parses and applies it, for ls and prune commands. Pure.

    f = parse_filters(args.filter, {"label", "name", "dangling", "until"})
    keep = (match_label_filters(f, labels) and match_name(name, f.get("name", []))
            and match_until(created, f.get("until", [])))

Values of one key are alternatives (``name=a --filter name=b``: either); different keys must
all hold, as in docker. Label filters are the exception: every ``label`` value must match.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidSpec
from .units import days_in_month, parse_duration_ns, parse_rfc3339_ns, timegm

BAD_FORMAT = "bad format of filter (expected name=value)"


def _invalid(key: str, value: str | None = None) -> InvalidSpec:
    shown = key if value is None else f"{key}={value}"
    return InvalidSpec(f"invalid filter '{shown}'", field="filter", key=key, value=value)


def _add(out: dict[str, list[str]], key: str, value: str) -> None:
    vals = out.setdefault(key, [])
    if value not in vals:
        vals.append(value)


def _from_json(text: str) -> dict[str, list[str]]:
    """The filters query argument of Docker's API: {"label": {"a=b": true}} or {"label": ["a=b"]}."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidSpec(f"invalid filter JSON {text!r}: {exc}", field="filter", value=text) from None
    if not isinstance(data, dict):
        raise InvalidSpec(f"invalid filter JSON {text!r}: expected an object", field="filter", value=text)
    out: dict[str, list[str]] = {}
    for key, vals in data.items():
        if isinstance(vals, dict):
            items = [k for k, on in vals.items() if on]
        elif isinstance(vals, list):
            items = vals
        else:
            raise InvalidSpec(f"invalid filter JSON: values of {key!r} must be a list or an object",
                              field="filter", value=text)
        for v in items:
            if not isinstance(v, str):
                raise InvalidSpec(f"invalid filter JSON: value {v!r} of {key!r} is not a string",
                                  field="filter", value=text)
            _add(out, str(key).lower(), v)
    return out


def parse_filters(values: Iterable[str] | None, allowed: Iterable[str]) -> dict[str, list[str]]:
    """Parse ``--filter`` arguments into {key: [values...]}, refusing keys not in ``allowed``.

    Keys are case-insensitive and trimmed, values trimmed, duplicates dropped, as docker's
    filters.ParseFlag does. An argument that starts with "{" is the JSON form of the API.
    """
    allowed = set(allowed)
    out: dict[str, list[str]] = {}
    for arg in values or ():
        if not isinstance(arg, str):
            raise InvalidSpec(f"invalid filter {arg!r}: expected name=value", field="filter", value=arg)
        if arg.lstrip().startswith("{"):
            parsed = _from_json(arg)
        else:
            if "=" not in arg:
                raise InvalidSpec(f"{BAD_FORMAT}: {arg!r}", field="filter", value=arg)
            key, _, value = arg.partition("=")
            parsed = {key.strip().lower(): [value.strip()]}
        for key, vals in parsed.items():
            if key not in allowed:
                raise _invalid(key)
            for v in vals:
                _add(out, key, v)
    return out


def check_values(filters: Mapping[str, list[str]], key: str, valid: Iterable[str]) -> None:
    """Refuse a value outside ``valid`` (``status=running`` but not ``status=jogging``)."""
    ok = set(valid)
    for v in filters.get(key, []):
        if v not in ok:
            raise _invalid(key, v)


def parse_bool(value: str | bool, field: str) -> bool:
    """A filter's boolean as docker reads it: true/1 or false/0, any case."""
    if isinstance(value, bool):
        return value
    v = str(value).strip()
    if v.lower() == "true" or v == "1":
        return True
    if v.lower() == "false" or v == "0":
        return False
    raise _invalid(field, v)


def get_bool(filters: Mapping[str, list[str]], key: str, default: bool | None = None) -> bool | None:
    """The boolean value of ``key`` (``dangling=true``), ``default`` when it is absent."""
    vals = {parse_bool(v, key) for v in filters.get(key, [])}
    if not vals:
        return default
    if len(vals) > 1:
        raise InvalidSpec(f"conflicting values for filter '{key}'", field="filter", key=key)
    return vals.pop()


# --- matchers ------------------------------------------------------------------------------

def _match_label(labels: Mapping[str, str], item: str) -> bool:
    if "!=" in item and ("=" not in item or item.index("!=") < item.index("=")):
        key, _, value = item.partition("!=")
        return labels.get(key) != value
    key, eq, value = item.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value


def match_labels(labels: Mapping[str, str] | None, wanted: Iterable[str]) -> bool:
    """True when every wanted ``key``, ``key=value`` or ``key!=value`` holds for ``labels``.

    ``key!=value`` holds when the label is absent or has another value.
    """
    labels = labels or {}
    return all(_match_label(labels, w) for w in wanted)


def match_label_filters(filters: Mapping[str, list[str]], labels: Mapping[str, str] | None) -> bool:
    """Apply ``label`` and ``label!`` filters as docker's prune does: every ``label`` must
    match, and an object that matches all the ``label!`` values is left out."""
    if not match_labels(labels, filters.get("label", [])):
        return False
    negated = filters.get("label!", [])
    return not (negated and match_labels(labels, negated))


def match_name(name: str, patterns: Iterable[str]) -> bool:
    """docker's Args.Match for name (and id) filters: an exact match or a regular expression
    that matches anywhere in the name. Container names are tried with and without their "/".
    No patterns matches everything."""
    patterns = list(patterns)
    if not patterns:
        return True
    candidates = [name] + ([name[1:]] if name.startswith("/") else [])
    for p in patterns:
        if p in candidates:
            return True
        try:
            rx = re.compile(p)
        except re.error:
            continue  # docker skips a pattern that is not a valid expression
        if any(rx.search(c) for c in candidates):
            return True
    return False


def match_any(value: str, wanted: Iterable[str]) -> bool:
    """Exact match against any value; no values matches everything (status=, driver=...)."""
    wanted = list(wanted)
    return not wanted or value in wanted


# --- times ---------------------------------------------------------------------------------

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
    r"(Z|z|[+-]\d{2}:\d{2})?$")
_UNIX_RE = re.compile(r"^(\d+)(?:\.(\d{1,9}))?$")


def parse_timestamp(value: str, now: float | None = None) -> float:
    """A time given on the command line, as docker's GetTimestamp reads it, in epoch seconds:
    a Go duration back from now ("24h", "90m"), an RFC 3339 time or date with or without a
    zone (local time without), or unix seconds ("1700000000.5")."""
    v = str(value).strip()
    now = time.time() if now is None else now
    if v != "0":
        try:
            return now - parse_duration_ns(v) / 1e9
        except InvalidSpec:
            pass
    m = _TIME_RE.match(v)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        h, mi, s = (int(m.group(i) or 0) for i in (4, 5, 6))
        frac = int((m.group(7) or "").ljust(9, "0")) / 1e9
        zone = m.group(8)
        if not (1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo) and h < 24 and mi < 60 and s < 60):
            raise InvalidSpec(f"invalid time {value!r}: out of range", field="filter", value=value)
        if zone is None:
            return time.mktime((y, mo, d, h, mi, s, 0, 0, -1)) + frac
        epoch = timegm(y, mo, d, h, mi, s)
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        return epoch + frac
    if "-" not in v:
        u = _UNIX_RE.match(v)
        if u:
            return int(u.group(1)) + int((u.group(2) or "").ljust(9, "0")) / 1e9
    raise InvalidSpec(f'failed to parse value as time or duration: "{value}"', field="filter", value=value)


def _epoch(created: float | int | str) -> float:
    if isinstance(created, str):
        return parse_rfc3339_ns(created) / 1e9
    return float(created)


def match_until(created: float | int | str, values: Iterable[str], now: float | None = None) -> bool:
    """The prune ``until`` filter: created at or before the time given (no value: True)."""
    values = list(values)
    if not values:
        return True
    if len(values) > 1:
        raise InvalidSpec("more than one until filter specified", field="filter", key="until")
    return _epoch(created) <= parse_timestamp(values[0], now)


def match_since_time(created: float | int | str, values: Iterable[str], now: float | None = None) -> bool:
    """Created strictly after the time given (``since`` as a timestamp; no value: True)."""
    values = list(values)
    if not values:
        return True
    return _epoch(created) > max(parse_timestamp(v, now) for v in values)


def match_before(created: float | int | str, reference_created: float | int | str | None) -> bool:
    """The ls ``before=<image or container>`` filter, once the caller resolved the reference."""
    return reference_created is None or _epoch(created) < _epoch(reference_created)


def match_since(created: float | int | str, reference_created: float | int | str | None) -> bool:
    """The ls ``since=<image or container>`` filter, once the caller resolved the reference."""
    return reference_created is None or _epoch(created) > _epoch(reference_created)


def to_json(filters: Mapping[str, list[str]]) -> str:
    """The API's JSON form, {"key": {"value": true}}, for handing filters on."""
    return json.dumps({k: {v: True for v in vals} for k, vals in filters.items()}, sort_keys=True)


def as_dict(filters: Mapping[str, Any]) -> dict[str, list[str]]:
    """Normalise filters given as a module parameter ({"label": "a=b"} or lists) to lists."""
    out: dict[str, list[str]] = {}
    for k, v in (filters or {}).items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        for item in vals:
            if isinstance(item, bool):
                item = "true" if item else "false"
            _add(out, str(k).lower(), str(item))
    return out
