"""Go's fmt and encoding/json as Go templates print values, re-expressed for Python data.

Templates written for Docker expect Go's rendering: maps as ``map[k:v]`` with sorted keys,
slices as ``[a b]``, floats in ``%g``'s shortest form, printf verbs with Go's flags and its
``%!d(string=x)`` complaints, JSON without HTML escaping. Python values map onto Go kinds:
str -> string, bool -> bool, int -> int, float -> float64, dict -> map, list/tuple -> slice,
None -> nil.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any


class Missing:
    """Go's invalid reflect.Value: what a lookup of an absent map key yields."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING = Missing()


class NilMap(dict):  # type: ignore[type-arg]
    """A nil Go map: prints "map[]", has no keys, marshals to null."""


class NilList(list):  # type: ignore[type-arg]
    """A nil Go slice: prints "[]", is empty, marshals to null."""


# Docker's inspect structs hold these as maps or slices; a null in the JSON is a nil one, which
# Go prints as map[] or [] (``{{.Config.Labels}}`` of an unlabelled image prints "map[]").
NIL_MAP_FIELDS = frozenset({
    "Labels", "Options", "Volumes", "ExposedPorts", "PortBindings", "Ports", "Networks", "Tmpfs",
    "Sysctls", "StorageOpt", "DriverOpts", "Data", "Containers", "AuxiliaryAddresses", "Aux",
    "Annotations", "IPAMOptions",
})
NIL_LIST_FIELDS = frozenset({
    "Cmd", "Entrypoint", "Env", "OnBuild", "Shell", "Args", "Aliases", "Links", "DNSNames", "Mounts",
    "Binds", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "CapAdd", "CapDrop", "SecurityOpt",
    "Devices", "DeviceRequests", "DeviceCgroupRules", "GroupAdd", "VolumesFrom", "Ulimits",
    "MaskedPaths", "ReadonlyPaths", "RepoTags", "RepoDigests", "Layers", "ConsoleSize",
    "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "Test", "Log", "Warnings",
})


def typed_nil(field: str) -> Any:
    """What a null under ``field`` stands for in Docker's Go structs."""
    if field in NIL_MAP_FIELDS:
        return NilMap()
    if field in NIL_LIST_FIELDS:
        return NilList()
    return None


def type_name(v: Any) -> str:
    """The Go type a Python value stands for, as Go's error messages print it."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if callable(v):
        return "func"
    return type(v).__name__


def sort_keys(keys: Any) -> list[Any]:
    """Go's fmtsort order: numbers numerically, strings bytewise, mixed kinds grouped."""
    def key(k: Any) -> tuple[int, Any]:
        if isinstance(k, bool):
            return (0, k)
        if isinstance(k, (int, float)):
            return (1, k)
        if isinstance(k, str):
            return (2, k)
        return (3, str(k))
    return sorted(keys, key=key)


# --- floats --------------------------------------------------------------------------------

def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(f) and the decimal point position."""
    from decimal import Decimal  # only floats need it; keep `berth ps` imports light
    sign, digits, exp = Decimal(repr(abs(f))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    if ds == "0":
        return "0", 1
    dp = len(digits) + int(exp)
    # leading zeros cannot occur in repr's output except for "0.x"; strip defensively
    stripped = ds.lstrip("0")
    dp -= len(ds) - len(stripped)
    return stripped, dp


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat(f, verb, prec, 64) for verbs e E f F g G (prec -1 = shortest)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = f < 0 or (f == 0 and math.copysign(1.0, f) < 0)
    if verb in "fF" and prec >= 0:
        body = f"{abs(f):.{prec}f}"
    elif verb in "eE" and prec >= 0:
        body = f"{abs(f):.{prec}e}"
    elif verb in "gG" and prec >= 0:
        body = f"{abs(f):.{prec or 1}g}"
    else:
        ds, dp = _digits(f)
        if verb in "eE":
            body = _fmt_e(ds, dp, len(ds) - 1)
        elif verb in "fF":
            body = _fmt_f(ds, dp, max(len(ds) - dp, 0))
        elif dp - 1 < -4 or dp - 1 >= 6:  # %g's shortest form switches to %e at 1e+06
            body = _fmt_e(ds, dp, len(ds) - 1)
        else:
            body = _fmt_f(ds, dp, max(len(ds) - dp, 0))
    if verb in "EG":
        body = body.upper()
    return ("-" if neg else "") + body


def _fmt_e(ds: str, dp: int, prec: int) -> str:
    mant = ds[0] + ("." + ds[1:prec + 1].ljust(prec, "0") if prec > 0 else "")
    exp = dp - 1 if ds != "0" else 0
    return f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(ds: str, dp: int, prec: int) -> str:
    if dp <= 0:
        whole, frac = "0", "0" * (-dp) + ds
    elif dp >= len(ds):
        whole, frac = ds + "0" * (dp - len(ds)), ""
    else:
        whole, frac = ds[:dp], ds[dp:]
    frac = frac[:prec].ljust(prec, "0")
    return whole + ("." + frac if prec > 0 else "")


# --- strings -------------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
                   "\v": r"\v", "\\": "\\\\"}


def quote(s: str, q: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteToASCII): Go's double-quoted string literal."""
    out = [q]
    for ch in s:
        if ch == q:
            out.append("\\" + ch)
        elif ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch.isprintable() and not (ascii_only and ord(ch) > 0x7E):
            out.append(ch)
        else:
            n = ord(ch)
            if n < 0x20 or n == 0x7F:
                out.append(f"\\x{n:02x}")
            elif n < 0x10000:
                out.append(f"\\u{n:04x}")
            else:
                out.append(f"\\U{n:08x}")
    out.append(q)
    return "".join(out)


# --- %v and Sprint -------------------------------------------------------------------------

def format_value(v: Any, plus: bool = False) -> str:
    """fmt's %v: what ``{{.}}`` and ``print`` show."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, complex):
        im = format_float(v.imag)
        return f"({format_float(v.real)}{'' if im[0] in '+-' else '+'}{im}i)"
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{format_value(k, plus)}:{format_value(v[k], plus)}"
                                 for k in sort_keys(v.keys())) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(format_value(x, plus) for x in v) + "]"
    return str(v)


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    prev_string = True
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(format_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(*args: Any) -> str:
    return " ".join(format_value(a) for a in args) + "\n"


# --- Sprintf -------------------------------------------------------------------------------

_VERB_RE = re.compile(r"%([-+# 0]*)(\[\d+\])?(\*|\d+)?(?:(\.)(\[\d+\])?(\*|\d+)?)?(\[\d+\])?(.)", re.S)


class _Spec:
    __slots__ = ("minus", "plus", "sharp", "space", "zero", "width", "prec", "verb")

    def __init__(self, flags: str, width: int | None, prec: int | None, verb: str) -> None:
        self.minus = "-" in flags
        self.plus = "+" in flags
        self.sharp = "#" in flags
        self.space = " " in flags
        self.zero = "0" in flags and not self.minus
        self.width = width
        self.prec = prec
        self.verb = verb

    def pad(self, s: str, mode: str = "str") -> str:
        """Pad to the width: mode "num" zero-fills after the sign, "str" zero-fills in front
        (Go does that for strings too), "space" never zero-fills (an int with a precision)."""
        if self.width is None or len(s) >= self.width:
            return s
        fill = self.width - len(s)
        if self.minus:
            return s + " " * fill
        if self.zero and mode == "str":
            return "0" * fill + s
        if self.zero and mode == "num":
            sign = s[0] if s[:1] in ("-", "+", " ") else ""
            body = s[len(sign):]
            prefix = ""
            for p in ("0x", "0X", "0b", "0o", "0O"):
                if body.startswith(p):
                    prefix, body = p, body[len(p):]
                    break
            return sign + prefix + "0" * fill + body
        return " " * fill + s


def _bad(verb: str, v: Any) -> str:
    if v is None or v is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(v)}={format_value(v)})"


def _sign(n: float | int, spec: _Spec) -> str:
    if n < 0 or (isinstance(n, float) and n == 0 and math.copysign(1.0, n) < 0):
        return "-"
    return "+" if spec.plus else (" " if spec.space else "")


def _fmt_int(n: int, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "c":
        return spec.pad(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd")
    if verb == "q":
        return spec.pad(quote(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd", "'"))
    if verb == "U":
        s = f"U+{n:04X}"
        if spec.sharp and 0 <= n <= 0x10FFFF and chr(n).isprintable():
            s += f" '{chr(n)}'"
        return spec.pad(s)
    base = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb)
    if base is None:
        return _bad(verb, n)
    digits = {10: "{:d}", 2: "{:b}", 8: "{:o}", 16: "{:x}"}[base].format(abs(n))
    if verb == "X":
        digits = digits.upper()
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and n == 0 else digits.rjust(spec.prec, "0")
    prefix = ""
    if verb == "O" or (spec.sharp and verb == "o" and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif spec.sharp and verb in "xX":
        prefix = "0x" if verb == "x" else "0X"
    elif spec.sharp and verb == "b":
        prefix = "0b"
    return spec.pad(_sign(n, spec) + prefix + digits, "num" if spec.prec is None else "space")


def _fmt_float(f: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb in "xX" and math.isfinite(f):
        return spec.pad(_sign(f, spec) + _hex_float(abs(f), verb, spec.prec), "num")
    if verb not in "veEfFgG":
        return _bad(verb, f)
    prec = -1 if spec.prec is None else spec.prec
    if verb in "eEfF" and prec < 0:
        prec = 6
    if math.isnan(f) or math.isinf(f):
        s = format_float(f)
        if spec.space and s[0] != "-":
            s = " " + s.lstrip("+")
        elif not spec.plus and s == "NaN":
            pass
        elif spec.plus and s == "NaN":
            s = "+NaN"
        return spec.pad(s)
    body = format_float(abs(f), "g" if verb == "v" else verb, prec)
    return spec.pad(_sign(f, spec) + body, "num")


def _hex_float(f: float, verb: str, prec: int | None) -> str:
    """%x of a float: Go's hexadecimal mantissa and binary exponent, "0x1.cp+01"."""
    if f == 0:
        mant, exp = "0", 0
    else:
        h = f.hex()  # 0x1.c000000000000p+1
        body, e = h[2:].split("p")
        mant, exp = body.rstrip("0").rstrip("."), int(e)
    if prec is not None:
        whole, _, frac = mant.partition(".")
        mant = whole + ("." + frac[:prec].ljust(prec, "0") if prec > 0 else "")
    s = f"0x{mant}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return s.upper() if verb == "X" else s


def _fmt_str(s: str, spec: _Spec) -> str:
    verb = spec.verb
    if spec.prec is not None and verb in "svq":
        s = s[:spec.prec]
    if verb in "sv":
        return spec.pad(s)
    if verb == "q":
        if spec.sharp and "`" not in s and all(c.isprintable() or c == "\t" for c in s):
            return spec.pad("`" + s + "`")
        return spec.pad(quote(s, ascii_only=spec.plus))
    if verb in "xX":
        data = s.encode()
        if spec.prec is not None:
            data = data[:spec.prec]
        sep = " " if spec.space else ""
        pre = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        parts = [pre + format(b, "02x" if verb == "x" else "02X") for b in data]
        if not spec.space and pre:
            return spec.pad(pre + "".join(p[len(pre):] for p in parts))
        return spec.pad(sep.join(parts))
    return _bad(verb, s)


def go_syntax(v: Any) -> str:
    """%#v: the value as a Go literal."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, Mapping):
        return "map[string]interface {}{" + ", ".join(
            f"{go_syntax(k)}:{go_syntax(v[k])}" for k in sort_keys(v.keys())) + "}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}{" + ", ".join(go_syntax(x) for x in v) + "}"
    return format_value(v)


def format_verb(v: Any, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "v" and spec.sharp:
        return spec.pad(go_syntax(v))
    if v is MISSING or v is None:
        return spec.pad("<nil>") if verb == "v" else _bad(verb, None)
    if isinstance(v, bool):
        return spec.pad("true" if v else "false") if verb in "tv" else _bad(verb, v)
    if isinstance(v, int):
        return _fmt_int(v, spec)
    if isinstance(v, float):
        return _fmt_float(v, spec)
    if isinstance(v, str):
        return _fmt_str(v, spec)
    if isinstance(v, Mapping):
        inner = [f"{format_verb(k, spec)}:{format_verb(v[k], spec)}" for k in sort_keys(v.keys())]
        return "map[" + " ".join(inner) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(format_verb(x, spec) for x in v) + "]"
    if verb in "sv":
        return spec.pad(str(v))
    return _bad(verb, v)


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf with Go's verbs, flags, widths, precisions and error notation."""
    out: list[str] = []
    argi = 0
    pos = 0
    reordered = False
    while True:
        i = fmt.find("%", pos)
        if i < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:i])
        m = _VERB_RE.match(fmt, i)
        if m is None:
            out.append("%!(NOVERB)")
            break
        flags, idx1, width_s, dot, idx2, prec_s, idx3, verb = m.groups()
        pos = m.end()
        if verb == "%" and not idx1 and not idx3:
            out.append("%")
            continue

        def take(idx: str | None) -> tuple[bool, Any]:
            nonlocal argi, reordered
            if idx:
                argi = int(idx[1:-1]) - 1
                reordered = True
            if 0 <= argi < len(args):
                argi += 1
                return True, args[argi - 1]
            return False, None

        width: int | None = None
        prec: int | None = None
        bad = ""
        if width_s == "*":
            ok, w = take(idx1)
            if not ok or isinstance(w, bool) or not isinstance(w, int):
                bad += "%!(BADWIDTH)"
            else:
                width = abs(w)
                if w < 0:
                    flags += "-"
        elif width_s:
            width = int(width_s)
        if dot:
            if prec_s == "*":
                ok, p = take(idx2)
                if not ok or isinstance(p, bool) or not isinstance(p, int) or p < 0:
                    bad += "%!(BADPREC)"
                else:
                    prec = p
            else:
                prec = int(prec_s) if prec_s else 0
        out.append(bad)
        ok, v = take(idx3 or (idx1 if width_s != "*" else None))
        if not ok:
            out.append(f"%!{verb}(MISSING)" if not reordered else f"%!{verb}(BADINDEX)")
            continue
        out.append(format_verb(v, _Spec(flags, width, prec, verb)))
    if argi < len(args) and not reordered:
        extra = ", ".join(f"{type_name(a)}={format_value(a)}" if a is not None else "<nil>"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --- JSON ----------------------------------------------------------------------------------

def jsonable(v: Any, sort: bool = False) -> Any:
    """Plain JSON data from dicts, lists, dataclasses and ``to_dict`` objects.

    Callable values (template methods) are called when they take no argument and left out
    otherwise, as Docker's formatter contexts marshal their methods. Integral floats become
    ints so that 1.0 prints as Go prints it: 1.
    """
    if v is MISSING or isinstance(v, (NilMap, NilList)):
        return None
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return int(v)
        if v != 0 and abs(v) < 1e-4 and math.isfinite(v):
            return _TinyFloat(v)
        return v
    if isinstance(v, Mapping):
        keys = list(v.keys())
        if sort or getattr(v, "json_sorted", False) or not _struct_like(keys):
            keys = sort_keys(keys)
        out = {}
        for k in keys:
            item = v[k]
            if callable(item) and not isinstance(item, type):
                if not _takes_no_args(item):
                    continue
                item = item()
            out[k if isinstance(k, str) else format_value(k)] = jsonable(item)
        return out
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        import base64
        return base64.b64encode(bytes(v)).decode()
    if hasattr(v, "to_dict"):
        return jsonable(v.to_dict())
    import dataclasses
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable(dataclasses.asdict(v))
    return str(v)


_FIELD_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def _struct_like(keys: list[Any]) -> bool:
    """Whether a dict stands for a Go struct (exported CamelCase fields, kept in the order
    they were built, as Docker declares them) rather than a Go map, which encoding/json writes
    in sorted key order (labels, options, ports, networks...)."""
    return all(isinstance(k, str) and _FIELD_RE.match(k) for k in keys)


def _takes_no_args(fn: Callable[..., Any]) -> bool:
    import inspect
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values())


class _TinyFloat(str):
    """A float Python's repr writes differently from Go (1e-05 vs 0.00001): carried through
    json.dumps as a marked string and put back as Go's number afterwards."""

    def __new__(cls, f: float) -> _TinyFloat:
        if abs(f) < 1e-6:
            text = format_float(f, "e").replace("e-0", "e-")
        else:
            ds, dp = _digits(f)
            text = ("-" if f < 0 else "") + _fmt_f(ds, dp, len(ds) - dp)
        return super().__new__(cls, _TINY_MARK + text + _TINY_MARK)


_TINY_MARK = "\ue000"
_TINY_RE = re.compile('"' + _TINY_MARK + "([^" + _TINY_MARK + "]*)" + _TINY_MARK + '"')


def to_json(v: Any, indent: int | None = None, sort: bool = False, escape_html: bool = False) -> str:
    """encoding/json: compact, or indented like json.Indent; HTML characters escaped only
    when asked (Docker's ``json`` function turns that off, json.Marshal does not)."""
    import json
    data = jsonable(v, sort=sort)
    if indent is None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    else:
        text = json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)
    # Go escapes the two JavaScript line terminators even without HTML escaping.
    if _TINY_MARK in text:
        text = _TINY_RE.sub(lambda m: m.group(1), text)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:  # <, > and & only occur inside strings in JSON text
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text
