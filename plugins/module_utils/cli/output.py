"""Docker-shaped output: list tables, inspect JSON, human sizes and times.

Every list command (ps, images, volume ls, network ls, ...) prints through ``print_list`` and
every inspect command through ``print_inspect``, so ``--format``, ``table``, ``json`` and
``-q`` behave the same everywhere, as in docker/cli's formatter package:

    print_list(ctx, rows, args.format,
               "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}",
               {"ID": "IMAGE ID", "CreatedSince": "CREATED"}, quiet=args.quiet)

Rows are dicts keyed by Docker's formatter field names; a value may be a callable, which
templates call as a method (``{{.Label "com.example"}}``) and ``{{json .}}`` calls when it
takes no argument.
"""
from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidSpec
from ..units import parse_rfc3339_ns
from . import gotemplate
from .gofmt import to_json
from .gotemplate_funcs import HEADER_FUNCS

__all__ = [
    "human_size", "bytes_size", "human_duration", "since", "parse_time", "format_time",
    "format_time_ns", "format_local_time", "parse_time_ns", "short_id", "tabwrite", "Table", "render_list", "print_list",
    "render_inspect", "print_inspect", "inspect_each", "confirm", "print_deleted", "display_width", "default_header",
]

# --- sizes ---------------------------------------------------------------------------------

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: tuple[str, ...]) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.4g}{units[i]}"  # Python's %g and Go's agree: 4 significant digits


def human_size(n: int | float) -> str:
    """docker's units.HumanSize: 1000-based, 4 significant digits ("5.58MB", "999B", "1kB")."""
    return _scaled(float(n), 1000.0, _DECIMAL)


def bytes_size(n: int | float) -> str:
    """docker's units.BytesSize: 1024-based ("1.5MiB"), as `docker stats` prints memory."""
    return _scaled(float(n), 1024.0, _BINARY)


# --- times ---------------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration: "Less than a second", "About a minute", "3 weeks"..."""
    s = int(seconds) if seconds > 0 else 0
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(math.floor(seconds / 3600 + 0.5))  # Go's math.Round: half away from zero
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


ZERO_TIME = "0001-01-01T00:00:00Z"
_ZERO_EPOCH = -62135596800.0  # 0001-01-01T00:00:00Z, Go's zero time.Time


parse_time_ns = parse_rfc3339_ns


def parse_time(value: str) -> float:
    """RFC 3339 to seconds since the epoch (float)."""
    return parse_rfc3339_ns(value) / 1e9


def format_time_ns(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped, 'Z' suffix."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    t = time.gmtime(secs) if secs >= -62135596800 else time.gmtime(-62135596800)
    # time.gmtime handles year 1 on Linux; strftime's %Y would not pad it, so format by hand
    s = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if frac:
        s += "." + f"{frac:09d}".rstrip("0")
    return s + "Z"


def format_time(epoch: float | int | None) -> str:
    """Seconds since the epoch as Docker's inspect prints times (``Created``, ``StartedAt``).

    None (a time that never happened) is Go's zero time, "0001-01-01T00:00:00Z". A float
    epoch carries about a microsecond of precision, so the fraction is rounded to that.
    """
    if epoch is None:
        return ZERO_TIME
    if isinstance(epoch, int):
        return format_time_ns(epoch * 1_000_000_000)
    micros = round(epoch * 1_000_000)
    return format_time_ns(micros * 1000)


def format_local_time(epoch: float | int, utc: bool = False) -> str:
    """Go's time.Time.String, which list commands print for CreatedAt:
    "2021-03-10 00:15:05 +0100 CET" (local zone) or "... +0000 UTC"."""
    secs = math.floor(epoch)
    frac = round((epoch - secs) * 1e9) if isinstance(epoch, float) else 0
    if frac >= 1_000_000_000:
        secs, frac = secs + 1, frac - 1_000_000_000
    t = time.gmtime(secs) if utc else time.localtime(secs)
    off = 0 if utc else t.tm_gmtoff
    zone = "UTC" if utc else (t.tm_zone or "")
    s = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if frac:
        s += "." + f"{frac:09d}".rstrip("0")
    sign = "-" if off < 0 else "+"
    off = abs(off)
    s += f" {sign}{off // 3600:02d}{off % 3600 // 60:02d}"
    # Go prints the numeric offset again when the zone has no abbreviation
    return s + " " + (zone or f"{sign}{off // 3600:02d}{off % 3600 // 60:02d}")


def _to_epoch(value: float | int | str | None) -> float | None:
    if value is None or value == "" or value == ZERO_TIME:
        return None
    if isinstance(value, str):
        return parse_time(value)
    return float(value)


def since(value: float | int | str | None, now: float | None = None) -> str:
    """"3 minutes ago" for an epoch or an RFC 3339 time; "N/A" for a zero or missing time."""
    epoch = _to_epoch(value)
    if epoch is None or epoch <= _ZERO_EPOCH:
        return "N/A"
    return human_duration((time.time() if now is None else now) - epoch) + " ago"


def short_id(value: str) -> str:
    """The 12 characters docker shows of an ID or digest ("sha256:" stripped)."""
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    return value[:12]


# --- tabwriter -----------------------------------------------------------------------------

def display_width(s: str) -> int:
    """Terminal cells a string takes, as go-runewidth counts them (Docker's tabwriter does)."""
    if s.isascii():
        return sum(1 for c in s if " " <= c < "\x7f")
    w = 0
    for c in s:
        o = ord(c)
        if o < 0x20 or 0x7F <= o < 0xA0:
            continue
        if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return w


def _format_section(lines: list[list[str]], minwidth: int, padding: int, padchar: str,
                    out: list[str], last: bool) -> None:
    widths: list[int] = []
    cellw = [[display_width(c) for c in line] for line in lines]

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            line = lines[i]
            for j, c in enumerate(line):
                out.append(c)
                if j < len(widths):
                    out.append(padchar * (widths[j] - cellw[i][j]))
            if i + 1 < len(lines) or not last:
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, cellw[this][column] + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))


def tabwrite(text: str | Iterable[str], minwidth: int = 10, padding: int = 3, padchar: str = " ") -> str:
    """Align tab-terminated cells into columns exactly as Docker's tabwriter does.

    Defaults are docker/cli's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``. ``text`` is the
    whole input, or an iterable of lines (each gets a newline). As in Go, cells are
    tab-terminated: the text after a line's last tab is not part of any column, and a column
    is a run of consecutive lines that have a cell in it. A form feed ends every column.
    """
    if not isinstance(text, str):
        text = "".join(line + "\n" for line in text)
    text = text.replace("\v", "\t")
    out: list[str] = []
    sections = text.split("\f")
    for k, section in enumerate(sections):
        lines = [line.split("\t") for line in section.split("\n")]
        _format_section(lines, minwidth, padding, padchar, out, last=(k == len(sections) - 1))
    return "".join(out)


class Table:
    """Rows of cells printed as Docker prints its tables (``docker stats``, ``system df``)."""

    def __init__(self, header: Iterable[str] | None = None) -> None:
        self.rows: list[list[str]] = []
        if header is not None:
            self.rows.append([str(h) for h in header])

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        return tabwrite("\t".join(r) for r in self.rows)


# --- lists ---------------------------------------------------------------------------------

class _Row(dict):  # type: ignore[type-arg]
    """A row as a template sees it; ``{{json .}}`` marshals it with sorted keys, as Docker's
    formatter contexts marshal their methods into a map."""

    json_sorted = True


_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def default_header(field: str) -> str:
    """A field's header when the command gave none: "CreatedSince" -> "CREATED SINCE"."""
    return _CAMEL_RE.sub(" ", field).upper()


class _HeaderField:
    def __init__(self, name: str, header: Any) -> None:
        self.name = name
        self.header = header

    def __call__(self, *args: Any) -> str:
        if callable(self.header):
            return str(self.header(*args))
        if self.name == "Label" and args and isinstance(args[0], str):
            # SubHeaderContext.Label: the last dotted part, '-' and '_' read as spaces
            return args[0].split(".")[-1].replace("-", " ").replace("_", " ")
        return self.header if self.header is not None else default_header(self.name)


class _HeaderRow(dict):  # type: ignore[type-arg]
    """The data a table's header line is rendered from: every field names its column."""

    def __init__(self, headers: Mapping[str, Any]) -> None:
        super().__init__()
        self.headers = headers

    def __missing__(self, key: str) -> _HeaderField:
        return _HeaderField(key, self.headers.get(key))


def _pre_format(fmt: str) -> tuple[bool, str]:
    table = fmt.startswith("table")
    if table:
        body = fmt[len("table"):]
    elif fmt == "json":
        body = "{{json .}}"
    else:
        body = fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, body


def _parse(body: str) -> gotemplate.Template:
    try:
        return gotemplate.parse(body)
    except InvalidSpec as exc:
        raise InvalidSpec(f"template parsing error: {exc}", field="format", value=body) from None


def render_list(rows: Iterable[Mapping[str, Any]], fmt: str | None, default_format: str,
                headers: Mapping[str, Any] | None = None, quiet: bool = False,
                quiet_field: str = "ID") -> str:
    """What print_list writes, as a string."""
    if quiet:
        fmt = "{{." + quiet_field + "}}"
    elif not fmt or fmt == "table":
        fmt = default_format
    table, body = _pre_format(fmt)
    tmpl = _parse(body)
    buf: list[str] = []
    for row in rows:
        data = _Row(row) if isinstance(row, Mapping) else row
        try:
            buf.append(tmpl.execute(data, missingkey="error" if isinstance(row, Mapping) else "default"))
        except InvalidSpec as exc:
            raise InvalidSpec(f"template parsing error: {exc}", field="format", value=body) from None
        buf.append("\n")
    if not table:
        return "".join(buf)
    try:
        header = tmpl.execute(_HeaderRow(headers or {}), funcs=HEADER_FUNCS)
    except InvalidSpec as exc:
        # docker ignores a header that fails to render and prints what it had
        header = getattr(exc, "details", {}).get("partial", "")
    return tabwrite(header + "\n" + "".join(buf))


def print_list(ctx: Any, rows: Iterable[Mapping[str, Any]], fmt: str | None, default_format: str,
               headers: Mapping[str, Any] | None = None, quiet: bool = False,
               quiet_field: str = "ID") -> None:
    """Print rows as a docker list command does: table, json lines, a template, or IDs only."""
    if quiet and fmt and fmt != "table":
        ctx.stderr.write("WARNING: Ignoring custom format, because both --format and --quiet are set.\n")
    ctx.stdout.write(render_list(rows, fmt, default_format, headers, quiet, quiet_field))


# --- inspect -------------------------------------------------------------------------------

def render_inspect(objs: list[Any], fmt: str | None) -> str:
    """What print_inspect writes, as a string."""
    if not fmt or fmt == "json":
        if not objs:
            return "[]\n"
        return to_json(list(objs), indent=4) + "\n"
    tmpl = _parse(fmt)
    if not objs:
        return "\n"
    out: list[str] = []
    for obj in objs:
        try:
            out.append(tmpl.execute(obj))
        except InvalidSpec as exc:
            raise InvalidSpec(f"template parsing error: {exc}", field="format", value=fmt) from None
        out.append("\n")
    return "".join(out)


def print_inspect(ctx: Any, objs: list[Any], fmt: str | None) -> None:
    """Docker's inspect output: an indented JSON array, or the template once per object."""
    ctx.stdout.write(render_inspect(objs, fmt))


def confirm(ctx: Any, warning: str) -> bool:
    """Docker's prune prompt: the warning, then ``[y/N]``; only y or yes goes on."""
    ctx.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.flush()
    return ctx.stdin.readline().strip().lower() in ("y", "yes")


def print_deleted(ctx: Any, title: str, items: Any, blank: bool = True) -> None:
    """A prune's "Deleted ...:" block (nothing when nothing was deleted)."""
    if not items:
        return
    ctx.out(title)
    for item in items:
        ctx.out(item)
    if blank:
        ctx.out("")


def inspect_each(ctx: Any, refs: list[str], lookup: Any, fmt: str | None) -> int:
    """Inspect every ref with ``lookup``: print what was found, then one error per failure.

    Docker prints the objects it found even when some names are unknown, and exits 1.
    """
    from ..errors import BerthError
    objs, errors = [], []
    for ref in refs:
        try:
            objs.append(lookup(ref))
        except BerthError as exc:
            errors.append(str(exc))
    print_inspect(ctx, objs, fmt)
    for message in errors:
        ctx.err(f"Error: {message}")
    return 1 if errors else 0
