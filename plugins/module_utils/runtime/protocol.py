"""The wire format between commands and monitors (unix sockets).

Frames as Docker multiplexes an attach stream: an 8-byte header (stream type, three zero
bytes, big-endian payload length) and the payload. Streams 0-2 are stdin/stdout/stderr;
CONTROL carries one JSON object (requests, replies, resize, exit); STDIN_EOF closes the
container's stdin. A connection opens with a CONTROL frame saying what it wants.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

STDIN, STDOUT, STDERR, CONTROL, STDIN_EOF = 0, 1, 2, 3, 4
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
_HDR = struct.Struct(">B3xI")
HEADER = _HDR.size
MAX_FRAME = 1 << 20


def frame(kind: int, payload: bytes) -> bytes:
    return _HDR.pack(kind, len(payload)) + payload


def control(obj: dict[str, Any]) -> bytes:
    return frame(CONTROL, json.dumps(obj, separators=(",", ":")).encode())


class FrameReader:
    """Incremental parser: feed bytes, take whole frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER:
            kind, size = _HDR.unpack_from(self.buf)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes is too large")
            if len(self.buf) < HEADER + size:
                break
            out.append((kind, bytes(self.buf[HEADER:HEADER + size])))
            del self.buf[:HEADER + size]
        return out


def recv_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """One frame from a blocking socket; None at EOF."""
    hdr = _recv_exact(sock, HEADER)
    if hdr is None:
        return None
    kind, size = _HDR.unpack(hdr)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    body = _recv_exact(sock, size) if size else b""
    if body is None:
        return None
    return kind, body


def recv_control(sock: socket.socket) -> dict[str, Any] | None:
    """The next CONTROL frame (other frames before it are dropped); None at EOF."""
    while True:
        fr = recv_frame(sock)
        if fr is None:
            return None
        if fr[0] == CONTROL:
            return json.loads(fr[1])


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks = []
    while n:
        b = sock.recv(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


@contextlib.contextmanager
def addressable(path: str | os.PathLike[str]) -> Iterator[str]:
    """A path short enough for sun_path (108 bytes): through /proc/self/fd when it is not."""
    path = os.fspath(path)
    if len(path.encode()) < 100:
        yield path
        return
    parent, name = os.path.split(path)
    fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


def connect(sock: socket.socket, path: str | os.PathLike[str]) -> None:
    with addressable(path) as p:
        sock.connect(p)


def bind(sock: socket.socket, path: str | os.PathLike[str]) -> None:
    with addressable(path) as p:
        sock.bind(p)


def recv_ready(sock: socket.socket) -> bytes | None:
    """What a non-blocking socket holds: None when nothing yet, b"" when the peer left (or the
    connection failed), else the bytes."""
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def request(path: str, obj: dict[str, Any], timeout: float | None = 30.0) -> dict[str, Any] | None:
    """Connect, send one CONTROL request, return the first CONTROL reply (None: no reply)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        connect(s, path)
        s.sendall(control(obj))
        return recv_control(s)


def send_with_fds(path: str | os.PathLike[str], obj: dict[str, Any], fds: list[int],
                  timeout: float | None = 5.0) -> dict[str, Any] | None:
    """One CONTROL request carrying descriptors (SCM_RIGHTS); the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        connect(s, path)
        socket.send_fds(s, [control(obj)], fds)
        return recv_control(s)
