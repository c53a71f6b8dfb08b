"""Values written the way Go programs read them: Dockerfiles carry Go durations
(``HEALTHCHECK --interval=1m30s``), Go booleans (``--link=true``, ``ro=1``) and
go-units sizes (``--mount=type=tmpfs,size=64m``). Each parser raises ValueError with the
message Go prints, so callers can wrap it with the instruction and line.
"""
from __future__ import annotations

import re

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_UNITS_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?\Z")
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def go_bool(s: str) -> bool:
    """strconv.ParseBool."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


def go_duration(s: str) -> int:
    """time.ParseDuration, in nanoseconds: "1h30m", "1.5s", "300ms", "-2m", "0"."""
    orig = s
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.end() == pos:
            raise ValueError(f'time: invalid duration "{orig}"')
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{orig}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        scale = _UNITS_NS.get(unit)
        if scale is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        pos = m.end()
    if total > (1 << 63) - 1:
        raise ValueError(f'time: invalid duration "{orig}"')
    return -int(total) if neg else int(total)


def format_duration(ns: int) -> str:
    """time.Duration.String for whole units, as docker prints healthcheck intervals."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if ns >= scale:
                return f"{sign}{_trim(ns / scale)}{unit}"
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = _trim(rest / 1_000_000_000)
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"
    return sign + out


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def ram_in_bytes(s: str) -> int:
    """go-units RAMInBytes: "64m", "1.5g", "512k", "100" (binary multiples)."""
    m = _SIZE.match(s)
    if m is None:
        raise ValueError(f"invalid size: '{s}'")
    try:
        number = float(m.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{s}'") from None
    unit = (m.group(2) or "").lower()
    return int(number * _BINARY.get(unit, 1))
