"""The berth command's fast path: run the command in the warm monitor server, not here.

Starting an interpreter and importing the engine costs a command ~80 ms of CPU; the monitor
server (runtime/server.py) has it all imported. So the `berth` entry point first hands the
server its argv, environment, umask, stdio and working folder (runtime/clihost.py forks a
child that runs cli/main.py's main() with them) and exits with the child's status. It runs
the command itself whenever that is not safe or possible: no server, a server running other
code than this checkout, a verb outside ALLOWED, a command that may drive a terminal (-i, -t),
BERTH_NO_FASTPATH=1, or any failure before the server started the child.

Only builtin modules are imported here (no socket, signal, json: their imports alone would
cost more than the whole exchange).
"""
from __future__ import annotations

import _signal
import _socket
import os
import sys

# Verbs that only read their arguments and write stdout/stderr (no stdin, no terminal, no
# prompt); `logs` without -f. Canonical names, as in cli/main.py's COMMAND_MODULES.
ALLOWED = frozenset({
    "run", "create", "start", "stop", "kill", "restart", "rm", "pause", "unpause", "rename",
    "wait", "port", "ps", "container inspect", "update", "logs", "top", "diff", "exec",
    "images", "image inspect", "tag", "rmi", "history",
    "inspect", "version", "info", "system df",
    "network create", "network ls", "network inspect", "network rm", "network connect",
    "network disconnect", "volume create", "volume ls", "volume inspect", "volume rm",
})
MANAGEMENT = {
    "container": {"ls": "ps", "list": "ps", "ps": "ps", "inspect": "container inspect",
                  "remove": "rm"},
    "image": {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi",
              "inspect": "image inspect"},
    "network": {"list": "network ls", "remove": "network rm"},
    "volume": {"list": "volume ls", "remove": "volume rm"},
    "system": {"df": "system df", "info": "info"},
}
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)
NAMESPACES = ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup")
SOCKET_NAME = "monitor.sock"          # runtime/server.py's SOCKET_NAME
_CONTROL = 3                           # runtime/protocol.py's CONTROL frame type
_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)} | {ord("\\"): "\\\\", ord('"'): '\\"'}


def run(argv: list[str]) -> int | None:
    """The command's exit status when the server ran it; None: run it here."""
    env = os.environ
    if disabled():
        return None
    globals_, rest = _split_globals(argv)
    if globals_ is None or not _allowed(rest):
        return None
    run_dir = os.path.abspath(globals_.get("run") or env.get("BERTH_RUN") or "/run/berth")
    digest = _current_hash(run_dir)
    if digest is None:
        return None
    try:
        request = _json({"op": "cli", "hash": digest, "argv": argv, "env": dict(env),
                         "umask": current_umask(), "ns": namespaces()}).encode()
    except UnicodeEncodeError:
        return None  # undecodable bytes in argv or the environment: the local path keeps them
    return exchange(os.path.join(run_dir, SOCKET_NAME), request)


def _split_globals(argv: list[str]) -> tuple[dict[str, str] | None, list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].split("=", 1)[0] in ("--root", "--run"):
        name, _, value = argv[i].partition("=")
        if not value:
            if i + 1 >= len(argv):
                return None, []
            value = argv[i + 1]
            i += 1
        opts[name[2:]] = value
        i += 1
    return opts, argv[i:]


def _allowed(rest: list[str]) -> bool:
    if not rest:
        return False
    if rest[0] in MANAGEMENT or rest[0] in ("container", "image", "network", "volume", "system"):
        if len(rest) < 2:
            return False
        verb = MANAGEMENT.get(rest[0], {}).get(rest[1])
        if verb is None:
            verb = rest[1] if rest[0] == "container" else f"{rest[0]} {rest[1]}"
        args = rest[2:]
    else:
        verb, args = rest[0], rest[1:]
    if verb not in ALLOWED:
        return False
    attaching = verb in ("run", "create", "start", "exec")
    for a in args:
        # Anything that may read the terminal or stdin stays local. A container command's own
        # flags (`ls -lt`) are caught too: that only costs them the fast path.
        name = a.partition("=")[0]
        if attaching and name in ("--interactive", "--tty", "--attach"):
            return False
        if verb == "logs" and name == "--follow":
            return False
        if len(a) > 1 and a[0] == "-" and a[1] != "-":
            if attaching and ("i" in a or "t" in a or "a" in a):
                return False
            if verb == "logs" and "f" in a:
                return False
    return True


def _current_hash(run_dir: str) -> str | None:
    """The engine copy's hash for this checkout's current files, as install.py recorded it
    (run/engine-hashes/<fingerprint>); None when no command recorded it yet."""
    from ..runtime.fingerprint import fingerprint

    pkg = sys.modules[__package__.rpartition(".")[0]]
    roots = list(getattr(pkg, "__path__", []))
    if len(roots) != 1 or not os.path.isdir(roots[0]):
        return None
    try:
        with open(os.path.join(run_dir, "engine-hashes", fingerprint(roots[0]))) as f:
            return f.read().strip() or None
    except OSError:
        return None


def namespaces() -> dict[str, int]:
    """This process's namespaces: a command runs warm only in the server's own (a client in
    another mount or network namespace would see other files and devices than its child)."""
    out = {}
    for kind in NAMESPACES:
        try:
            out[kind] = os.stat(f"/proc/self/ns/{kind}").st_ino
        except OSError:
            out[kind] = 0
    return out


def disabled() -> bool:
    """BERTH_NO_FASTPATH=1: everything in the calling process (the command's, a module's)."""
    return os.environ.get("BERTH_NO_FASTPATH", "") not in ("", "0")


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json(obj: object) -> str:
    """JSON for str, int, bool, list and dict (json's import costs ~6 ms)."""
    if isinstance(obj, str):
        return '"' + obj.translate(_ESCAPES) + '"'
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_json(str(k))}:{_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_json(v) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _frame(payload: bytes) -> bytes:
    return bytes([_CONTROL, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


class _Conn:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def reply(self) -> dict[str, object] | None:
        """The next CONTROL frame's object; None at end of stream."""
        while True:
            while len(self.buf) < 8 or len(self.buf) < 8 + int.from_bytes(self.buf[4:8], "big"):
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buf += data
            size = int.from_bytes(self.buf[4:8], "big")
            kind, payload, self.buf = self.buf[0], self.buf[8:8 + size], self.buf[8 + size:]
            if kind == _CONTROL:
                return _parse(payload)


def _parse(payload: bytes) -> dict[str, object]:
    # The server's answers to a command are {"pid": N}, {"exit": N}, {"signal": N}: read
    # those by hand, anything else (an error) with json.
    text = payload.decode()
    if text.startswith('{"') and text.endswith("}") and text.count(":") == 1:
        key, _, value = text[2:-1].partition('":')
        if value.lstrip("-").isdigit():
            return {key: int(value)}
    import json

    obj = json.loads(text)
    return obj if isinstance(obj, dict) else {"error": "not an object"}


def exchange(path: str, request: bytes, stdio: tuple[int, int, int] = (0, 1, 2)) -> int | None:
    """Send the request with ``stdio`` and the working folder; the child's exit status, or None
    when nothing ran (no server, or a refusal)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    cwd = -1
    try:
        try:
            sock.connect(path)
            cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fds = (*stdio, cwd)
            frame = _frame(request)
            sent = sock.sendmsg([frame], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                           b"".join(fd.to_bytes(4, sys.byteorder, signed=True)
                                                    for fd in fds))])
            if sent < len(frame):
                sock.sendall(frame[sent:])
            os.close(cwd)
            cwd = -1
            conn = _Conn(sock)
            first = conn.reply()
        except OSError:
            return None  # no server, or one that left: nothing ran
        if first is None or "pid" not in first:
            return None  # refused (stale, not root...) before the command started
        return _wait(sock, conn)
    finally:
        if cwd >= 0:
            os.close(cwd)
        sock.close()


def _wait(sock: _socket.socket, conn: _Conn) -> int:
    """Forward signals to the command until the server reports how it ended."""
    def forward(signum: int, _stack: object) -> None:
        try:
            sock.sendall(_frame_for_signal(signum))
        except OSError:
            pass

    previous = {sig: _signal.signal(sig, forward) for sig in FORWARDED}
    try:
        end = conn.reply()
    except OSError:
        end = None
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
    if end is None:
        os.write(2, b"berth: the monitor server left while it ran the command\n")
        return 125
    if "signal" in end:
        sig = int(end["signal"])  # type: ignore[call-overload]
        # End the way the command did, as a shell would see the local process end.
        _signal.signal(sig, _signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig
    return int(end.get("exit", 125))  # type: ignore[call-overload]


def _frame_for_signal(signum: int) -> bytes:
    return _frame(b'{"signal":%d}' % signum)
