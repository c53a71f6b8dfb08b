"""The monitor's clients: attach streams, waiters, and the container's stdin and terminal.

A mixin of Monitor, split out by responsibility: the monitor's event loop hands it accepted
connections and readable client sockets. Output goes to clients through per-client buffers
(a client that stops reading is dropped, never waited for); stdin comes from one client at a
time; `stdin_once` closes the container's stdin when that client leaves.
"""
from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
from typing import Any

from . import protocol as proto
from .policy import signal_number

CLIENT_BUFFER_MAX = 4 << 20
SERVICES = ("network.dns",)   # what a client may ask a running monitor to start


class _Client:
    def __init__(self, sock: socket.socket, hello: dict[str, Any]) -> None:
        self.sock = sock
        self.stdin = bool(hello.get("stdin"))
        self.stdout = bool(hello.get("stdout", True))
        self.stderr = bool(hello.get("stderr", True))
        self.reader = proto.FrameReader()
        self.out = bytearray()
        self.kind = hello.get("op", "attach")


class ClientsMixin:
    """Needs the monitor's sel, clients, listener, opts, tty, pty, stdin_* and stop/kill."""

    # Provided by Monitor (declared for type checkers).
    sel: selectors.BaseSelector
    clients: dict[int, _Client]
    listener: socket.socket | None
    opts: dict[str, Any]
    tty: bool
    pty: int
    pid: int
    restart_count: int
    stdin_w: int
    stdin_owner: int | None
    stdin_done: bool
    stdin_buf: bytearray
    paths: Any
    cid: str
    stdin_eof_pending: bool = False
    _stdin_retry: int | None = None
    _winsize: tuple[int, int] | None

    def _start_services(self, opts: dict[str, Any], early: bool = False) -> None:
        raise NotImplementedError  # the monitor's
    def _on_accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        conn.settimeout(2.0)
        try:
            hello = proto.recv_control(conn)
        except (OSError, ValueError):
            hello = None
        if hello is None:
            conn.close()
            return
        op = hello.get("op")
        if op == "attach":
            self._add_client(conn, hello)
        elif op in ("wait", "stop"):
            c = _Client(conn, hello)
            c.kind = "waiter"
            self._register(c)
            if op == "stop":
                self.stop(float(hello.get("timeout", self.opts.get("stop_timeout", 10))),
                          hello.get("signal") or self.opts.get("stop_signal"))
        elif op == "kill":
            sig = signal_number(hello.get("signal"), signal.SIGKILL)
            ok = self.kill(sig)
            self._reply(conn, {"ok": ok})
        elif op == "resize":
            self._resize(int(hello["rows"]), int(hello["cols"]))
            self._reply(conn, {"ok": True})
        elif op == "service" and hello.get("module") in SERVICES:
            # A service asked for after the launch (the first user-defined network joined).
            self._start_services({"services": [{"module": hello["module"], "args": hello.get("args") or {}}]})
            self._reply(conn, {"ok": True})
        elif op == "state":
            self._reply(conn, {"pid": self.pid, "monitor": os.getpid(), "restarts": self.restart_count})
        else:
            self._reply(conn, {"error": f"unknown monitor request {op!r}"})

    def _reply(self, conn: socket.socket, obj: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(proto.control(obj))
        conn.close()

    def _add_client(self, conn: socket.socket, hello: dict[str, Any]) -> None:
        c = _Client(conn, hello)
        if c.stdin:
            if self.stdin_owner is None:
                self.stdin_owner = conn.fileno()
            else:
                c.stdin = False
        if hello.get("resize"):
            rows, cols = hello["resize"]
            self._resize(int(rows), int(cols))
        self._register(c)

    def _register(self, c: _Client) -> None:
        c.sock.setblocking(False)
        self.clients[c.sock.fileno()] = c
        self.sel.register(c.sock, selectors.EVENT_READ, ("client", None))

    def _on_client(self, fd: int, mask: int) -> None:
        c = self.clients.get(fd)
        if c is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush_client(c)
        if not mask & selectors.EVENT_READ:
            return
        data = proto.recv_ready(c.sock)
        if data is None:
            return
        if not data:
            self._drop(c)
            return
        try:
            frames = c.reader.feed(data)
        except ValueError:
            self._drop(c)
            return
        for kind, payload in frames:
            if kind == proto.STDIN and c.stdin:
                self.stdin_buf += payload
                self._flush_stdin()
            elif kind == proto.STDIN_EOF and c.stdin:
                self._stdin_eof()
            elif kind == proto.CONTROL:
                msg = json.loads(payload)
                if "resize" in msg:
                    self._resize(*[int(x) for x in msg["resize"]])

    def _drop(self, c: _Client) -> None:
        fd = c.sock.fileno()
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(c.sock)
        self.clients.pop(fd, None)
        c.sock.close()
        if self.stdin_owner == fd:
            self.stdin_owner = None
            if self.opts.get("stdin_once") and not self.tty:
                self.stdin_done = True
                self._stdin_eof()

    def _send(self, c: _Client, data: bytes) -> None:
        c.out += data
        if len(c.out) > CLIENT_BUFFER_MAX:
            self._drop(c)  # a client that does not read must not hold the container back
            return
        self._flush_client(c)

    def _flush_client(self, c: _Client) -> None:
        try:
            while c.out:
                n = c.sock.send(c.out)
                del c.out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(c)
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(c.sock, want, ("client", None))

    def _flush_stdin(self) -> None:
        self._stdin_retry = None
        target = self.pty if self.tty else self.stdin_w
        if target < 0:
            return  # not launched yet: _launch flushes what came early, and the EOF
        if self.stdin_buf:
            try:
                n = os.write(target, self.stdin_buf)
                del self.stdin_buf[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.stdin_buf.clear()
        if self.stdin_buf:
            if self._stdin_retry is None:  # one retry chain, however many frames arrive
                self._stdin_retry = self.call_later(0.05, self._flush_stdin)
        elif self.stdin_eof_pending and not self.tty:
            self._close_stdin()

    def _stdin_eof(self) -> None:
        if self.tty:
            return  # a terminal has no end of input: the user types ^D
        # The EOF may come before the launch (`echo x | berth run -i`) or behind buffered
        # input: it is kept pending until everything before it was written.
        self.stdin_eof_pending = True
        self._flush_stdin()

    def _close_stdin(self) -> None:
        self.stdin_eof_pending = False
        if self.stdin_w < 0:
            return
        os.close(self.stdin_w)
        self.stdin_w = -1
        # The server holds a copy of the write end for an adopter: the container reads EOF
        # only once that copy is closed too.
        with contextlib.suppress(OSError, ValueError):
            proto.request(f"{self.paths.run}/monitor.sock", {"op": "unkeep", "cid": self.cid,
                                                             "role": "stdin"}, timeout=2.0)

    def _resize(self, rows: int, cols: int) -> None:
        from .console import set_winsize

        self._winsize = (rows, cols)
        if self.pty >= 0:
            with contextlib.suppress(OSError):
                set_winsize(self.pty, rows, cols)

    def _drop_after_flush(self, c: _Client) -> None:
        with contextlib.suppress(OSError):
            c.sock.setblocking(True)
            c.sock.settimeout(1.0)
            if c.out:
                c.sock.sendall(c.out)
                c.out.clear()
        self._drop(c)
