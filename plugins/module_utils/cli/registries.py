"""`berth pull`, `push`, `login`, `logout`: thin over engine.registry, with Docker's output.

On a terminal, one line per layer is redrawn in place ("a1b2c3d4e5f6: Downloading [==>  ]
1.2MB/3.4MB"); when piped, only the lines without a layer id are printed (the Digest and
Status lines and the final name), so scripts read what they need.
"""
from __future__ import annotations

import argparse
import getpass
import sys
import threading
from typing import Any

from .base import Command, Context

BAR_WIDTH = 50


def human_size(n: float) -> str:
    """Docker's decimal sizes: 345B, 12.3kB, 1.2MB, 3.4GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}TB"  # pragma: no cover


def progress_line(ev: dict[str, Any]) -> str:
    status = ev.get("status", "")
    text = f"{ev['id']}: {status}" if ev.get("id") else status
    total, current = ev.get("total"), ev.get("current")
    if total and current is not None and status in ("Downloading", "Extracting", "Pushing"):
        filled = min(BAR_WIDTH, int(BAR_WIDTH * current / total)) if total else 0
        arrow = ">" if filled < BAR_WIDTH else ""
        bar = "=" * max(filled - (1 if arrow else 0), 0) + arrow
        text += f" [{bar:<{BAR_WIDTH}}] {human_size(current):>8}/{human_size(total)}"
    return text


class ProgressRenderer:
    """Redraws one line per id in place on a terminal, as Docker's CLI does."""

    def __init__(self, ctx: Context, quiet: bool = False) -> None:
        self.ctx = ctx
        self.tty = ctx.interactive and not quiet
        self.quiet = quiet
        self.order: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self._lock:
            if self.quiet:
                if ev.get("final"):
                    self.ctx.out(ev["status"])
                return
            if not self.tty:
                if not ev.get("id"):
                    self.ctx.out(ev.get("status", ""))
                return
            self._draw(ev)

    def _draw(self, ev: dict[str, Any]) -> None:
        out = self.ctx.stdout
        ident = ev.get("id")
        line = progress_line(ev)
        if not ident:
            out.write(line + "\n")
            out.flush()
            return
        if ident not in self.order:
            self.order.append(ident)
            out.write(line + "\n")
        else:
            up = len(self.order) - self.order.index(ident)
            out.write(f"\x1b[{up}A\r\x1b[2K{line}\r\x1b[{up}B")
        out.flush()


# --- pull ----------------------------------------------------------------------------------------

def _configure_pull(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable (os/arch[/variant])")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")


def _run_pull(ctx: Context, args: argparse.Namespace) -> int:
    render = ProgressRenderer(ctx, quiet=args.quiet)
    ctx.engine.registry.pull(args.name, platform=args.platform, progress=render)
    return 0


# --- push ----------------------------------------------------------------------------------------

def _configure_push(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME[:TAG]")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")


def _run_push(ctx: Context, args: argparse.Namespace) -> int:
    render = ProgressRenderer(ctx, quiet=args.quiet)
    ctx.engine.registry.push(args.name, progress=render)
    return 0


# --- login / logout ------------------------------------------------------------------------------

def _configure_login(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", help="Registry (default: Docker Hub)")
    p.add_argument("-u", "--username", help="Username")
    p.add_argument("-p", "--password", help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")


def _run_login(ctx: Context, args: argparse.Namespace) -> int:
    from ..errors import InvalidSpec

    password = args.password
    if args.password_stdin:
        if password:
            raise InvalidSpec("--password and --password-stdin are mutually exclusive", field="password")
        if not args.username:
            raise InvalidSpec("must provide --username with --password-stdin", field="username")
        password = ctx.stdin.read().rstrip("\r\n")
    elif password:
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    username = args.username
    tty = _stdin_tty(ctx)
    if not username:
        if not tty:
            raise InvalidSpec("cannot perform an interactive login from a non TTY device", field="username")
        ctx.stdout.write("Username: ")
        ctx.stdout.flush()
        username = ctx.stdin.readline().strip()
    if not password:
        if not tty:
            raise InvalidSpec("cannot perform an interactive login from a non TTY device", field="password")
        password = getpass.getpass("Password: ")
    ctx.out(ctx.engine.registry.login(args.server, username, password))
    return 0


def _stdin_tty(ctx: Context) -> bool:
    try:
        return bool(ctx.stdin.isatty()) and ctx.stdin is sys.stdin
    except (AttributeError, ValueError):
        return False


def _configure_logout(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", help="Registry (default: Docker Hub)")


def _run_logout(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out(ctx.engine.registry.logout(args.server))
    return 0


COMMANDS = {
    "pull": Command("Download an image from a registry", _configure_pull, _run_pull,
                    "berth pull [OPTIONS] NAME[:TAG|@DIGEST]"),
    "push": Command("Upload an image to a registry", _configure_push, _run_push, "berth push [OPTIONS] NAME[:TAG]"),
    "login": Command("Log in to a registry", _configure_login, _run_login, "berth login [OPTIONS] [SERVER]"),
    "logout": Command("Log out from a registry", _configure_logout, _run_logout, "berth logout [SERVER]"),
}
