"""What every CLI command module shares: the Command record and the Context it runs in.

A command module exports ``COMMANDS: dict[str, Command]`` keyed by the canonical command
("run", "image inspect", "volume create"...). The command builds its argparse options in
``configure`` and does its work in ``run``, through ``ctx.engine`` only.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine


@dataclass(frozen=True)
class Command:
    summary: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context, argparse.Namespace], int | None]
    usage: str | None = None


class Context:
    def __init__(self, root: str | None = None, run: str | None = None,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                 stdin: IO[str] | None = None) -> None:
        self._root = root
        self._run = run
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin

    @cached_property
    def engine(self) -> Engine:
        from ..engine import Engine
        from ..paths import Paths
        return Engine(Paths.from_env(self._root, self._run))

    @property
    def interactive(self) -> bool:
        """True when progress bars and colours make sense: stdout is a terminal."""
        try:
            return os.isatty(self.stdout.fileno())
        except (AttributeError, ValueError, OSError):
            return False

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")

    def flush(self) -> None:
        self.stdout.flush()


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors the way docker does (exit 125, one clear line)."""

    def error(self, message: str) -> Any:
        from ..errors import InvalidSpec
        raise InvalidSpec(f"{self.prog}: {message}\nSee '{self.prog} --help'.")


def add_format_option(p: argparse.ArgumentParser, what: str = "output") -> None:
    p.add_argument("-f", "--format", help=f"Format the {what} using a Go template, or 'json'")
