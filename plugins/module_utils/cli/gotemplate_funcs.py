"""The functions a Docker --format template can call: Go's builtins and Docker's additions.

Each entry declares its parameters the way Go's reflection sees them, so argument errors read
as Go's do ("wrong number of args for len: want 1 got 2", "wrong type for value; expected
string; got int"). Parameter kinds: ``value`` (anything, an absent map key stays absent),
``any`` (an absent key becomes nil), ``str``, ``int``, ``strs`` (a list of strings).
``and``, ``or`` and ``call`` are evaluated by the executor itself (lazy arguments).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .gofmt import MISSING, format_value, sprint, sprintf, sprintln, to_json, type_name


class FuncError(Exception):
    """A function refused its arguments: reported as ``error calling NAME: ...``."""


class GoFunc:
    """A template function: the callable and the kinds of its parameters."""

    __slots__ = ("fn", "params", "variadic")

    def __init__(self, fn: Callable[..., Any], params: tuple[str, ...] = (),
                 variadic: str | None = None) -> None:
        self.fn = fn
        self.params = params
        self.variadic = variadic  # kind of the trailing ...args, if any


# --- helpers -------------------------------------------------------------------------------

def truth(v: Any) -> bool:
    """Go's template truth: false, 0, nil and empty collections are false; structs are true."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, bytes, list, tuple, dict, set, frozenset)):
        return bool(v)
    if isinstance(v, Mapping):
        return len(v) > 0
    return True


def _kind(v: Any) -> str:
    if v is None or v is MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "other"


_BAD_COMPARISON = "incompatible types for comparison"


def _eq_one(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        if ka == "invalid" or kb == "invalid":
            return False if not (ka == kb) else True
        raise FuncError(_BAD_COMPARISON)
    if ka == "invalid":
        return True
    if ka == "other":
        if isinstance(a, (list, dict, Mapping)) or isinstance(b, (list, dict, Mapping)):
            raise FuncError(f"non-comparable type {sprintf('%s', a)}: {type_name(a)}")
        return bool(a == b)
    return bool(a == b)


def fn_eq(arg1: Any, *rest: Any) -> bool:
    if not rest:
        raise FuncError("missing argument for comparison")
    return any(_eq_one(arg1, b) for b in rest)


def fn_ne(a: Any, b: Any) -> bool:
    return not _eq_one(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError(_BAD_COMPARISON)
    return a, b


def fn_lt(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a < b)


def fn_le(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a <= b)


def fn_gt(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a > b)


def fn_ge(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a >= b)


def fn_not(v: Any) -> bool:
    return not truth(v)


def fn_len(v: Any) -> int:
    if v is None or v is MISSING:
        raise FuncError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode())  # Go's len counts bytes
    if isinstance(v, (list, tuple, bytes, Mapping)):
        return len(v)
    raise FuncError(f"len of type {type_name(v)}")


def _index_int(i: Any, cap: int) -> int:
    if isinstance(i, bool) or not isinstance(i, int):
        raise FuncError(f"cannot index slice/array with type {type_name(i)}")
    if i < 0 or i >= cap:
        raise FuncError(f"index out of range: {i}")
    return i


def fn_index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("index of untyped nil")
    for idx in indexes:
        if item is None or item is MISSING:
            raise FuncError("index of nil pointer")
        if isinstance(item, str):
            item = item.encode()[_index_int(idx, len(item.encode()))]
        elif isinstance(item, (list, tuple, bytes)):
            item = item[_index_int(idx, len(item))]
        elif isinstance(item, Mapping):
            if idx is None or idx is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(idx, str) and all(isinstance(k, str) for k in item):
                raise FuncError(f"value has type {type_name(idx)}; should be string")
            if idx in item:
                item = item[idx]
            else:
                # Go returns the map's zero value: "" for a map of strings (Labels, Options)
                vals = list(item.values())
                item = "" if all(isinstance(x, str) for x in vals) else MISSING
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def fn_slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data: Any = item.encode()
    elif isinstance(item, (list, tuple)):
        data = item
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    cap = len(data)
    idx = [0, len(data)]
    for i, v in enumerate(indexes):
        if isinstance(v, bool) or not isinstance(v, int):
            raise FuncError(f"cannot index slice/array with type {type_name(v)}")
        if v < 0 or v > cap:
            raise FuncError(f"index out of range: {v}")
        if i < 2:
            idx[i] = v
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and indexes[1] > indexes[2]:
        raise FuncError(f"invalid slice index: {indexes[1]} > {indexes[2]}")
    out = data[idx[0]:idx[1]]
    return out.decode(errors="replace") if isinstance(item, str) else list(out)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*("<no value>" if a is None or a is MISSING else a for a in args))


def fn_html(*args: Any) -> str:
    s = _eval_args(args)
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\x00", "\ufffd"))


def fn_js(*args: Any) -> str:
    out = []
    for ch in _eval_args(args):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == '"':
            out.append('\\"')
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def fn_urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus
    return quote_plus(_eval_args(args), safe="")


# --- Docker's additions (docker/cli templates) -----------------------------------------------

def fn_json(v: Any) -> str:
    # A list row marshals itself with json.Marshal (HTML escaped, as `docker ps --format json`
    # prints "\u003cnone\u003e"); anything else goes through an encoder without escaping.
    return to_json(v, escape_html=bool(getattr(v, "json_sorted", False)))


def fn_split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def fn_join(items: list[Any], sep: str) -> str:
    return sep.join(x if isinstance(x, str) else format_value(x) for x in items)


_SIMPLE_CASE = {("\u0130", "lower"): "i"}


def _per_rune(s: str, conv: Callable[[str], str]) -> str:
    # Go maps rune by rune; Python's full case mapping may grow 'ß' into 'SS'.
    out = []
    for c in s:
        m = conv(c)
        out.append(m if len(m) == 1 else _SIMPLE_CASE.get((c, conv.__name__), c))
    return "".join(out)


def fn_lower(s: str) -> str:
    return _per_rune(s, str.lower)


def fn_upper(s: str) -> str:
    return _per_rune(s, str.upper)


def _is_separator(c: str) -> bool:
    if c < "\x80":
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


def fn_title(s: str) -> str:
    """strings.Title: upper-case the first letter of every word."""
    out, prev = [], " "
    for c in s:
        out.append(_per_rune(c, str.title) if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def fn_pad(s: str, prefix: int, suffix: int) -> str:
    if s == "":
        return s
    return " " * max(prefix, 0) + s + " " * max(suffix, 0)


def fn_truncate(s: str, length: int) -> str:
    # docker cuts bytes; a character cut in half is dropped rather than printed broken
    data = s.encode()
    if len(data) < length:
        return s
    return data[:max(length, 0)].decode(errors="ignore")


def _header_identity(v: Any, *_: Any) -> Any:
    return v


FUNCS: dict[str, GoFunc] = {
    # Go's builtins
    "and": GoFunc(lambda *a: None, ("value",), "value"),
    "or": GoFunc(lambda *a: None, ("value",), "value"),
    "call": GoFunc(lambda *a: None, ("value",), "value"),
    "not": GoFunc(fn_not, ("value",)),
    "len": GoFunc(fn_len, ("value",)),
    "index": GoFunc(fn_index, ("value",), "value"),
    "slice": GoFunc(fn_slice, ("value",), "value"),
    "print": GoFunc(sprint, (), "any"),
    "printf": GoFunc(sprintf, ("str",), "any"),
    "println": GoFunc(sprintln, (), "any"),
    "html": GoFunc(fn_html, (), "any"),
    "js": GoFunc(fn_js, (), "any"),
    "urlquery": GoFunc(fn_urlquery, (), "any"),
    "eq": GoFunc(fn_eq, ("value",), "value"),
    "ne": GoFunc(fn_ne, ("value", "value")),
    "lt": GoFunc(fn_lt, ("value", "value")),
    "le": GoFunc(fn_le, ("value", "value")),
    "gt": GoFunc(fn_gt, ("value", "value")),
    "ge": GoFunc(fn_ge, ("value", "value")),
    # Docker's
    "json": GoFunc(fn_json, ("any",)),
    "split": GoFunc(fn_split, ("str", "str")),
    "join": GoFunc(fn_join, ("strs", "str")),
    "title": GoFunc(fn_title, ("str",)),
    "lower": GoFunc(fn_lower, ("str",)),
    "upper": GoFunc(fn_upper, ("str",)),
    "pad": GoFunc(fn_pad, ("str", "int", "int")),
    "truncate": GoFunc(fn_truncate, ("str", "int")),
}

# Docker renders a table's header line through the row template with these: the header
# names pass through the string functions untouched (``{{upper .Names}}`` heads "NAMES");
# ``pad`` is kept, so that a padded column keeps its header aligned.
HEADER_FUNCS: dict[str, GoFunc] = {
    "json": GoFunc(_header_identity, ("any",)),
    "split": GoFunc(_header_identity, ("any", "any")),
    "join": GoFunc(_header_identity, ("any", "any")),
    "title": GoFunc(_header_identity, ("any",)),
    "lower": GoFunc(_header_identity, ("any",)),
    "upper": GoFunc(_header_identity, ("any",)),
    "truncate": GoFunc(_header_identity, ("any", "any")),
}
