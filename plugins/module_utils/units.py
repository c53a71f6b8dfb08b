"""Units as docker spells them: byte sizes, Go durations, signals and CPU counts. Pure.

    parse_bytes("512m")       -> 536870912        (--memory: 1024-based, like RAMInBytes)
    parse_duration("1m30s")   -> 90.0             (Go's time.ParseDuration, in seconds)
    format_duration(90)       -> "1m30s"          (Go's Duration.String)
    parse_signal("SIGRTMIN+3")-> 37; signal_name(15) -> "SIGTERM"
    parse_cpus("1.5")         -> 1500000000       (--cpus as NanoCPUs)

Errors are errors.InvalidSpec naming the field (when given) and the value.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .errors import InvalidSpec

# fractions and signal are imported where used: the CLI imports this module on
# every command and should not pay for them.

# --- sizes ---------------------------------------------------------------------------------

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_NUM_RE = re.compile(r"^[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?$")


def _what(field: str | None) -> str:
    return f"{field} " if field else ""


def _parse_size(value: Any, table: dict[str, int], field: str | None) -> int:
    if isinstance(value, bool):
        raise InvalidSpec(f"invalid {_what(field)}size {value!r}", field=field, value=value)
    if isinstance(value, int):
        if value < 0:
            raise InvalidSpec(f"invalid {_what(field)}size: '{value}'", field=field, value=value)
        return value
    if isinstance(value, float):
        if value < 0 or value != value or value in (float("inf"),):
            raise InvalidSpec(f"invalid {_what(field)}size: '{value}'", field=field, value=value)
        return int(value)
    if not isinstance(value, str):
        raise InvalidSpec(f"invalid {_what(field)}size {value!r}", field=field, value=value)
    s = value
    # the number is everything up to the last digit, dot or space (go-units' rule)
    sep = max(s.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise InvalidSpec(f"invalid {_what(field)}size: '{value}'", field=field, value=value)
    if s[sep] == " ":
        num, sfx = s[:sep], s[sep + 1:]
    else:
        num, sfx = s[:sep + 1], s[sep + 1:]
    if not num or not _NUM_RE.match(num) or num == ".":
        raise InvalidSpec(f"invalid {_what(field)}size: '{value}'", field=field, value=value)
    from fractions import Fraction
    size = Fraction(num) if "e" not in num.lower() else Fraction(float(num))
    if not sfx:
        return int(size)
    low = sfx.lower()
    bad = InvalidSpec(f"invalid {_what(field)}size '{value}': invalid suffix: '{sfx}'",
                      field=field, value=value)
    if len(low) > 3:
        raise bad
    if low[0] == "b":
        if len(low) > 1:
            raise bad
        return int(size)
    mul = table.get(low[0])
    if mul is None or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise bad
    return int(size * mul)


def parse_bytes(value: Any, field: str | None = None) -> int:
    """docker's RAMInBytes: "512m", "1.5g", "64k", "100b", "1024" (1024-based, any case)."""
    return _parse_size(value, _BINARY, field)


def parse_size_decimal(value: Any, field: str | None = None) -> int:
    """docker's FromHumanSize: the same syntax, 1000-based ("1kB" = 1000)."""
    return _parse_size(value, _DECIMAL, field)


# --- durations -----------------------------------------------------------------------------

_UNITS_NS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 10**6, "s": 10**9,
             "m": 60 * 10**9, "h": 3600 * 10**9}
_DUR_PART_RE = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_MAX_NS = (1 << 63) - 1


class _GoDurationError(ValueError):
    """time.ParseDuration's complaint, without the quoted input Go appends."""


def parse_duration_ns(value: Any, field: str | None = None) -> int:
    """Go's time.ParseDuration, in integer nanoseconds."""
    if not isinstance(value, str):
        raise InvalidSpec(f"invalid {_what(field)}duration {value!r}", field=field, value=value)
    try:
        return _duration_ns(value)
    except _GoDurationError as exc:
        raise InvalidSpec(f"invalid {_what(field)}duration {value!r}: {exc}", field=field, value=value) from None


def go_parse_duration(value: str) -> int:
    """time.ParseDuration with Go's own error text (ValueError), for Dockerfile flags."""
    try:
        return _duration_ns(value)
    except _GoDurationError as exc:
        raise ValueError(f'{exc} "{value}"') from None


def _duration_ns(s: str) -> int:
    err = _GoDurationError
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise err("time: invalid duration")
    from fractions import Fraction
    total = Fraction(0)
    while s:
        m = _DUR_PART_RE.match(s)
        assert m is not None
        num, unit = m.group(1), m.group(2)
        if not num or num == ".":
            raise err("time: invalid duration")
        if not unit:
            raise err("time: missing unit in duration")
        # the unit runs up to the next digit or dot
        if unit not in _UNITS_NS:
            raise err(f'time: unknown unit "{unit}" in duration')
        total += Fraction(num) * _UNITS_NS[unit]
        s = s[m.end():]
    if total > _MAX_NS + (1 if neg else 0):
        raise err("time: invalid duration (overflows)")
    ns = int(total)
    return -ns if neg else ns


def parse_duration(value: Any, field: str | None = None) -> float:
    """Go durations ("10s", "1m30s", "500ms", "1h", "-1.5h") as seconds. A bare number
    (int or float, not a string) is already seconds and passes through."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return parse_duration_ns(value, field) / 1e9


def _fmt_frac(v: int, prec: int) -> str:
    """v / 10**prec with trailing zeros (and a bare dot) removed."""
    whole, frac = divmod(v, 10**prec)
    f = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}" + (f".{f}" if f else "")


def format_duration_ns(ns: int) -> str:
    """Go's Duration.String: "1h30m0s", "1m30s", "1.5s", "500ms", "1µs", "0s"."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    sign = "-" if neg else ""
    if u < 10**9:
        if u < 1000:
            return f"{sign}{u}ns"
        if u < 10**6:
            return f"{sign}{_fmt_frac(u, 3)}\u00b5s"
        return f"{sign}{_fmt_frac(u, 6)}ms"
    secs = _fmt_frac(u % (60 * 10**9), 9) + "s"
    total_min = u // (60 * 10**9)
    if total_min == 0:
        return sign + secs
    minutes = f"{total_min % 60}m"
    hours = total_min // 60
    return sign + (f"{hours}h" if hours else "") + minutes + secs


def format_duration(seconds: float | int) -> str:
    """Seconds as Go prints a time.Duration."""
    if isinstance(seconds, int):
        return format_duration_ns(seconds * 10**9)
    return format_duration_ns(round(seconds * 1e9))


# --- times ---------------------------------------------------------------------------------

_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


def days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def timegm(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    """Seconds since the epoch of a UTC civil time (calendar.timegm without its imports)."""
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + s


def parse_rfc3339_ns(value: str, field: str | None = None) -> int:
    """RFC 3339 (nanoseconds allowed) to integer nanoseconds since the epoch."""
    m = _RFC3339_RE.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise InvalidSpec(f"invalid time {value!r}: expected RFC 3339 such as 2024-01-02T03:04:05Z",
                          field=field, value=value)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")
    zone = m.group(8)
    if not (1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo) and h < 24 and mi < 60 and s < 61):
        raise InvalidSpec(f"invalid time {value!r}: out of range", field=field, value=value)
    secs = timegm(y, mo, d, h, mi, s)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return secs * 1_000_000_000 + int(frac)


# --- signals -------------------------------------------------------------------------------

SIGRTMIN = 34  # glibc reserves 32 and 33; docker's table is built on the same numbers
SIGRTMAX = 64


@lru_cache(maxsize=1)
def signal_table() -> dict[str, int]:
    """Signal names without "SIG" (docker's SignalMap for Linux) -> numbers."""
    import signal as _signal
    table: dict[str, int] = {}
    for name in dir(_signal):
        if name.startswith("SIG") and not name.startswith("SIG_") and name not in ("SIGRTMIN", "SIGRTMAX"):
            num = getattr(_signal, name)
            if isinstance(num, int):
                table[name[3:]] = int(num)
    for k in range(0, 16):
        table[f"RTMIN+{k}" if k else "RTMIN"] = SIGRTMIN + k
    for k in range(0, 15):
        table[f"RTMAX-{k}" if k else "RTMAX"] = SIGRTMAX - k
    return table


_CANONICAL = {6: "ABRT", 17: "CHLD", 29: "IO", 31: "SYS"}


def parse_signal(value: Any, field: str | None = "signal") -> int:
    """A signal by name ("SIGTERM", "term", "SIGRTMIN+3", "RTMAX-1") or number ("15")."""
    if isinstance(value, int) and not isinstance(value, bool):
        num = value
    elif isinstance(value, str) and value.strip().isdigit():
        num = int(value.strip())
    elif isinstance(value, str):
        name = value.strip().upper()
        if name.startswith("SIG"):
            name = name[3:]
        num = signal_table().get(name, -1)
        if num < 0:
            raise InvalidSpec(f"invalid {field or 'signal'}: {value}", field=field, value=value)
        return num
    else:
        raise InvalidSpec(f"invalid {field or 'signal'}: {value!r}", field=field, value=value)
    if not 1 <= num <= SIGRTMAX:
        raise InvalidSpec(f"invalid {field or 'signal'}: {value}", field=field, value=value)
    return num


def signal_name(num: int) -> str:
    """The name docker and kill -l print: 15 -> "SIGTERM", 37 -> "SIGRTMIN+3"."""
    if num in _CANONICAL:
        return "SIG" + _CANONICAL[num]
    if SIGRTMIN <= num <= SIGRTMIN + 15:
        return "SIGRTMIN" + (f"+{num - SIGRTMIN}" if num > SIGRTMIN else "")
    if SIGRTMAX - 14 <= num <= SIGRTMAX:
        return "SIGRTMAX" + (f"-{SIGRTMAX - num}" if num < SIGRTMAX else "")
    for name, n in signal_table().items():
        if n == num and not name.startswith("RT"):
            return "SIG" + name
    raise InvalidSpec(f"invalid signal number: {num}", field="signal", value=num)


# --- CPUs ----------------------------------------------------------------------------------

def parse_cpus(value: Any, field: str | None = "cpus") -> int:
    """--cpus as docker's NanoCPUs: "1.5" -> 1500000000; more than 9 decimals is too precise."""
    from fractions import Fraction
    if isinstance(value, bool):
        raise InvalidSpec(f"invalid {field}: {value!r}", field=field, value=value)
    try:
        cpus = Fraction(str(value).strip()) if not isinstance(value, (int, Fraction)) else Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise InvalidSpec(f"invalid {field} {value!r}: failed to parse as a rational number",
                          field=field, value=value) from None
    if cpus < 0:
        raise InvalidSpec(f"invalid {field} {value!r}: must not be negative", field=field, value=value)
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise InvalidSpec(f"invalid {field} {value!r}: value is too precise", field=field, value=value)
    return int(nano)


def format_cpus(nano: int) -> str:
    """NanoCPUs back to the --cpus spelling: 1500000000 -> "1.5"."""
    return _fmt_frac(int(nano), 9)
