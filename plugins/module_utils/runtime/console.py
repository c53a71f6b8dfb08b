"""Terminals and the client side of attach: raw mode, window sizes, detach keys, the pump.

The monitor holds a container's pty master; an attached command puts its own terminal in raw
mode, forwards keystrokes and window-size changes, and prints what comes back, until the
container exits (its exit code) or the user types the detach keys (None).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import struct
import termios
import tty as _tty
from collections.abc import Iterator

from ..errors import InvalidSpec
from . import protocol as proto

TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414


def get_winsize(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _x, _y = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", int(rows), int(cols), 0, 0))


@contextlib.contextmanager
def raw_mode(fd: int | None) -> Iterator[None]:
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        _tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's --detach-keys: comma-separated single characters or ctrl-<x>."""
    if not spec:
        return b""
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
        elif k.lower().startswith("ctrl-") and len(k) == 6:
            c = k[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
            else:
                raise InvalidSpec(f"invalid detach keys {spec!r}: unknown key {k!r}", field="detach_keys")
        else:
            raise InvalidSpec(f"invalid detach keys {spec!r}: unknown key {k!r}", field="detach_keys")
    return bytes(out)


class _Detacher:
    """Watches typed bytes for the detach sequence; holds back a partial match."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[:self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out), False


def pump(sock: socket.socket, stdin: int | None, stdout: int | None, stderr: int | None,
         tty: bool, detach_keys: bytes = b"") -> int | None:
    """Copy between this process's streams and an attach socket until exit or detach.

    Returns the container's exit code, or None when the user detached (or the monitor left
    without saying).
    """
    sel = selectors.DefaultSelector()
    reader = proto.FrameReader()
    # As Docker: the detach keys are looked for on a terminal only; piped input is data.
    detacher = _Detacher(detach_keys if tty else b"")
    sock.setblocking(True)
    sel.register(sock, selectors.EVENT_READ, "sock")
    fed = -1
    if stdin is not None:
        fed = pollable(stdin)
        if fed == stdin:
            fed = -1
        else:
            stdin = fed
        sel.register(stdin, selectors.EVENT_READ, "stdin")
    wake_r = wake_w = -1
    old_winch = None
    if tty and stdin is not None and os.isatty(stdin):
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        sel.register(wake_r, selectors.EVENT_READ, "winch")
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: os.write(wake_w, b"w"))
        size = get_winsize(stdin)
        if size:
            sock.sendall(proto.control({"resize": list(size)}))
    try:
        with raw_mode(stdin if tty and stdin is not None else None):
            while True:
                for key, _ev in sel.select():
                    what = key.data
                    if what == "winch":
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_r, 64)
                        size = get_winsize(stdin) if stdin is not None else None
                        if size:
                            sock.sendall(proto.control({"resize": list(size)}))
                    elif what == "stdin":
                        data = os.read(stdin, 65536) if stdin is not None else b""
                        if not data:
                            sel.unregister(stdin)
                            _send_input(sock, proto.frame(proto.STDIN_EOF, b""))
                            continue
                        data, detach = detacher.feed(data)
                        if data and not _send_input(sock, proto.frame(proto.STDIN, data)):
                            sel.unregister(stdin)  # the monitor stopped reading: output and exit follow
                        if detach:
                            return None
                    else:
                        chunk = sock.recv(65536)
                        if not chunk:
                            return None
                        for kind, payload in reader.feed(chunk):
                            if kind == proto.STDOUT and stdout is not None:
                                _write_all(stdout, payload)
                            elif kind == proto.STDERR and (stderr is not None or stdout is not None):
                                _write_all(stderr if stderr is not None else stdout, payload)
                            elif kind == proto.CONTROL:
                                msg = json.loads(payload)
                                if "exit" in msg:
                                    return int(msg["exit"])
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if wake_r >= 0:
            os.close(wake_r)
            os.close(wake_w)
        sel.close()
        if fed >= 0:
            os.close(fed)


def _send_input(sock: socket.socket, data: bytes) -> bool:
    """Send stdin to the monitor; False once it has closed its side (the container exited and
    the monitor is leaving): what it sent before, output and exit code, is still to be read."""
    try:
        sock.sendall(data)
        return True
    except BrokenPipeError:
        return False


def pollable(fd: int) -> int:
    """``fd``, or a pipe fed from it by a thread when epoll refuses it (a regular file or
    /dev/null, as in `berth run -i img < file`)."""
    import threading

    probe = select.epoll()
    try:
        probe.register(fd, select.EPOLLIN)
        return fd
    except PermissionError:
        pass
    finally:
        probe.close()
    r, w = os.pipe2(os.O_CLOEXEC)

    def feed() -> None:
        try:
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                _write_all(w, data)
        except OSError:
            pass
        finally:
            os.close(w)

    threading.Thread(target=feed, daemon=True, name="stdin-feed").start()
    return r


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def pump_pty(master: int, stdin: int | None, stdout: int | None) -> None:
    """Copy between this process's terminal and a pty master until the slave side closes."""
    import errno

    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "pty")
    if stdin is not None:
        sel.register(stdin, selectors.EVENT_READ, "stdin")
    old_winch = None
    if stdin is not None and os.isatty(stdin):
        size = get_winsize(stdin)
        if size:
            with contextlib.suppress(OSError):
                set_winsize(master, *size)

        def winch(*_a: object) -> None:
            sz = get_winsize(stdin)
            if sz:
                with contextlib.suppress(OSError):
                    set_winsize(master, *sz)
        old_winch = signal.signal(signal.SIGWINCH, winch)
    try:
        with raw_mode(stdin):
            while True:
                try:
                    events = sel.select()
                except InterruptedError:
                    continue
                for key, _ in events:
                    if key.data == "pty":
                        try:
                            data = os.read(master, 65536)
                        except OSError as exc:
                            if exc.errno == errno.EIO:
                                return
                            raise
                        if not data:
                            return
                        if stdout is not None:
                            _write_all(stdout, data)
                    else:
                        data = os.read(stdin, 65536) if stdin is not None else b""
                        if not data:
                            sel.unregister(stdin)
                            continue
                        _write_all(master, data)
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        sel.close()
