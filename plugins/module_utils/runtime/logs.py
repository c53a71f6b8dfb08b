"""Docker's json-file log driver: the monitor writes it, `berth logs` reads it.

One JSON object per line: {"log": "text\\n", "stream": "stdout"|"stderr", "time": RFC3339Nano}.
With max-size, the file rotates the way Docker names the files: <id>-json.log is current,
<id>-json.log.1 the one before, up to max-file files in all (max-file 1 truncates in place).
A line longer than 16 KiB is written in pieces, the last with the newline (Docker's partial
messages), so the monitor's memory stays bounded whatever the container prints.
"""
from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator

from .state import format_rfc3339, parse_rfc3339

MAX_LINE = 16 * 1024


class LogWriter:
    def __init__(self, path: str, max_size: int | None = None, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size if max_size and max_size > 0 else None
        self.max_file = max(1, int(max_file or 1))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    def write(self, stream: str, data: bytes) -> None:
        """Take bytes as they come from a pipe; whole lines are logged, the rest waits."""
        buf = self._partial[stream]
        buf += data
        start, n = 0, len(buf)
        while start < n:
            end = min(start + MAX_LINE, n)
            nl = buf.find(b"\n", start, end)
            if nl != -1:
                self._emit(stream, bytes(buf[start:nl + 1]))
                start = nl + 1
            elif end - start == MAX_LINE:
                self._emit(stream, bytes(buf[start:end]))
                start = end
            else:
                break
        del buf[:start]

    def flush_partial(self) -> None:
        """At the end of a run: log what is left without a newline, as Docker does."""
        for stream, buf in self._partial.items():
            if buf:
                self._emit(stream, bytes(buf))
                buf.clear()

    def _emit(self, stream: str, chunk: bytes) -> None:
        line = json.dumps({"log": chunk.decode("utf-8", "replace"), "stream": stream,
                           "time": format_rfc3339(time.time_ns())},
                          ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if self.max_size is not None and self._size and self._size + len(line) > self.max_size:
            self._rotate()
        os.write(self._fd, line)
        self._size += len(line)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file > 1:
            for n in range(self.max_file - 1, 0, -1):
                src = self.path if n == 1 else f"{self.path}.{n - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{n}")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0

    def close(self) -> None:
        self.flush_partial()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def log_files(path: str) -> list[str]:
    """The log files of a container, oldest first."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return list(reversed(rotated)) + ([path] if os.path.exists(path) else [])


def _parse(line: bytes) -> tuple[str, str, bytes] | None:
    try:
        rec = json.loads(line)
        return rec["stream"], rec["time"], rec["log"].encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a line torn by a crash mid-write: skip it, as Docker does


def _lines_reversed(path: str, block: int = 65536) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        pos = f.tell()
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)
            for ln in reversed(lines):
                if ln:
                    yield ln
        if rest:
            yield rest


def read_logs(path: str, follow: bool = False, since: int | None = None, until: int | None = None,
              tail: int | None = None, running: Callable[[], bool] | None = None,
              poll: float = 0.1) -> Iterator[tuple[str, str, bytes]]:
    """Yield (stream, time, bytes) records; ``since``/``until`` are ns since the epoch.

    With ``follow``, keeps reading as the monitor writes (across rotations) until
    ``running()`` turns false and the file has been read to its end.
    """
    def keep(rec: tuple[str, str, bytes]) -> bool:
        if since is None and until is None:
            return True
        t = parse_rfc3339(rec[1])
        return (since is None or t >= since) and (until is None or t <= until)

    files = log_files(path)
    if tail is not None and tail >= 0:
        picked: deque[tuple[str, str, bytes]] = deque()
        for f in reversed(files):
            for raw in _lines_reversed(f):
                if len(picked) >= tail:
                    break
                rec = _parse(raw)
                if rec is not None and keep(rec):
                    picked.appendleft(rec)
            if len(picked) >= tail:
                break
        yield from picked
    else:
        for f in files[:-1] if follow else files:
            with open(f, "rb") as fh:
                for raw in fh:
                    rec = _parse(raw)
                    if rec is not None and keep(rec):
                        yield rec
    if not follow:
        return
    yield from _follow(path, since, until, keep, running or (lambda: False), poll,
                       skip_existing=tail is not None and tail >= 0)


def _follow(path: str, since: int | None, until: int | None, keep: Callable[..., bool],
            running: Callable[[], bool], poll: float, skip_existing: bool) -> Iterator[tuple[str, str, bytes]]:
    fh = None
    ino = None
    pending = b""
    try:
        while True:
            if fh is None:
                try:
                    fh = open(path, "rb")
                except FileNotFoundError:
                    if not running():
                        return
                    time.sleep(poll)
                    continue
                ino = os.fstat(fh.fileno()).st_ino
                if skip_existing:
                    fh.seek(0, os.SEEK_END)
                    skip_existing = False
            alive = running()  # asked before reading, so nothing written before the exit is missed
            data = fh.read()
            if data:
                data = pending + data
                lines = data.split(b"\n")
                pending = lines.pop()
                for raw in lines:
                    rec = _parse(raw)
                    if rec is not None and keep(rec):
                        if until is not None and parse_rfc3339(rec[1]) > until:
                            return
                        yield rec
                continue
            try:
                rotated = os.stat(path).st_ino != ino
            except FileNotFoundError:
                rotated = True
            if rotated:
                fh.close()
                fh = None
                pending = b""
                continue
            if not alive:
                return
            time.sleep(poll)
    finally:
        if fh is not None:
            fh.close()


def format_record(stream: str, ts: str, data: bytes, timestamps: bool) -> bytes:
    if timestamps:
        # Docker pads the fraction to 9 digits in `logs -t` output.
        t = parse_rfc3339(ts)
        secs, frac = divmod(t, 1_000_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
        return stamp.encode() + b" " + data
    return data


def parse_since(value: str | None, now: float | None = None) -> int | None:
    """`--since`/`--until`: RFC 3339, a Unix timestamp, or a duration such as 10m or 1h30m."""
    if not value:
        return None
    now = time.time() if now is None else now
    import re

    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        secs = sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", value))
        return int((now - secs) * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return int(float(value) * 1e9)
    try:
        if len(value) == 10:
            value += "T00:00:00Z"
        elif "T" in value and not (value.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", value)):
            value += "Z"
        return parse_rfc3339(value)
    except (ValueError, IndexError) as exc:
        from ..errors import InvalidSpec
        raise InvalidSpec(f"invalid time value {value!r}: expected RFC 3339, a Unix timestamp "
                          "or a duration such as 10m", value=value) from exc
