"""Values written the way Go programs read them: Dockerfiles carry Go durations
(``HEALTHCHECK --interval=1m30s``), Go booleans (``--link=true``, ``ro=1``) and
go-units sizes (``--mount=type=tmpfs,size=64m``). Each parser raises ValueError with the
message Go prints, so callers can wrap it with the instruction and line.
"""
from __future__ import annotations

from ..errors import InvalidSpec
from ..units import format_duration_ns as format_duration  # noqa: F401 - time.Duration.String
from ..units import go_parse_duration, parse_bytes

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_bool(s: str) -> bool:
    """strconv.ParseBool."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


def go_duration(s: str) -> int:
    """time.ParseDuration, in nanoseconds: "1h30m", "1.5s", "300ms", "-2m", "0"."""
    return go_parse_duration(s)


def ram_in_bytes(s: str) -> int:
    """go-units RAMInBytes: "64m", "1.5g", "512k", "100" (binary multiples)."""
    try:
        return parse_bytes(s)
    except InvalidSpec as exc:
        raise ValueError(str(exc)) from None
