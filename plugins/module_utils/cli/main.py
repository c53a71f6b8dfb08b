"""The ``berth`` command: docker's verbs, flags and output shapes, thin over the Engine.

Dispatch is by explicit tables. Only the module of the command being run is imported, so
``berth ps`` never pays for the HTTP client or the network stack.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .base import ArgumentParser, Command, Context

VERSION = "0.1.0"

# canonical command -> CLI module that implements it
COMMAND_MODULES: dict[str, str] = {
    # containers: life cycle
    "run": "containers", "create": "containers", "start": "containers", "stop": "containers",
    "kill": "containers", "restart": "containers", "rm": "containers", "pause": "containers",
    "unpause": "containers", "rename": "containers", "wait": "containers", "ps": "containers",
    "port": "containers", "container inspect": "containers", "container prune": "containers",
    "update": "containers",
    # containers: processes, files and streams
    "attach": "container_io", "exec": "container_io", "logs": "container_io", "top": "container_io",
    "stats": "container_io", "diff": "container_io", "cp": "container_io", "commit": "container_io",
    "export": "container_io",
    # images
    "images": "images", "image inspect": "images", "import": "images", "save": "images",
    "load": "images", "tag": "images", "rmi": "images", "image prune": "images", "history": "images",
    # registries
    "pull": "registries", "push": "registries", "login": "registries", "logout": "registries",
    # builds
    "build": "builds", "builder prune": "builds",
    # networks and volumes
    "network create": "networks", "network ls": "networks", "network inspect": "networks",
    "network rm": "networks", "network prune": "networks", "network connect": "networks",
    "network disconnect": "networks",
    "volume create": "volumes", "volume ls": "volumes", "volume inspect": "volumes",
    "volume rm": "volumes", "volume prune": "volumes",
    # the host
    "inspect": "system", "system df": "system", "system prune": "system", "info": "system",
    "version": "system",
}

# management form: `berth image ls` -> "images"
MANAGEMENT: dict[str, dict[str, str]] = {
    "container": {
        "ls": "ps", "list": "ps", "ps": "ps", "run": "run", "create": "create", "start": "start",
        "stop": "stop", "kill": "kill", "restart": "restart", "rm": "rm", "remove": "rm",
        "pause": "pause", "unpause": "unpause", "rename": "rename", "wait": "wait", "port": "port",
        "inspect": "container inspect", "prune": "container prune", "attach": "attach",
        "exec": "exec", "logs": "logs", "top": "top", "stats": "stats", "diff": "diff", "cp": "cp",
        "commit": "commit", "export": "export", "update": "update",
    },
    "image": {
        "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "inspect": "image inspect",
        "prune": "image prune", "import": "import", "save": "save", "load": "load", "tag": "tag",
        "history": "history", "pull": "pull", "push": "push", "build": "build",
    },
    "network": {k: f"network {k}" for k in ("create", "ls", "inspect", "rm", "prune", "connect", "disconnect")}
    | {"list": "network ls", "remove": "network rm"},
    "volume": {k: f"volume {k}" for k in ("create", "ls", "inspect", "rm", "prune")}
    | {"list": "volume ls", "remove": "volume rm"},
    "system": {"df": "system df", "prune": "system prune", "info": "info"},
    "builder": {"prune": "builder prune", "build": "build"},
}

MANAGEMENT_SUMMARY = {
    "container": "Manage containers", "image": "Manage images", "network": "Manage networks",
    "volume": "Manage volumes", "system": "Manage berth", "builder": "Manage builds",
}


def load_command(key: str) -> Command | None:
    modname = COMMAND_MODULES.get(key)
    if modname is None:
        return None
    try:
        mod = importlib.import_module(f"{__package__}.{modname}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(f".cli.{modname}"):
            return None
        raise
    return mod.COMMANDS.get(key)


def _usage() -> str:
    lines = ["Usage:  berth [OPTIONS] COMMAND", "",
             "A daemonless container engine with docker's commands", "",
             "Options:",
             "      --root string   Persistent state folder (default $BERTH_ROOT or /var/lib/berth)",
             "      --run string    Runtime state folder (default $BERTH_RUN or /run/berth)",
             "  -v, --version       Print version information and quit", "",
             "Management Commands:"]
    for noun, summary in MANAGEMENT_SUMMARY.items():
        lines.append(f"  {noun:<10}  {summary}")
    lines += ["", "Commands:"]
    for key in COMMAND_MODULES:
        if " " in key:
            continue
        cmd = load_command(key)
        if cmd is not None:
            lines.append(f"  {key:<10}  {cmd.summary}")
    lines += ["", "Run 'berth COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def _management_usage(noun: str) -> str:
    lines = [f"Usage:  berth {noun} COMMAND", "", MANAGEMENT_SUMMARY[noun], "", "Commands:"]
    seen = set()
    for sub, key in MANAGEMENT[noun].items():
        if key in seen:
            continue
        seen.add(key)
        cmd = load_command(key)
        if cmd is not None:
            lines.append(f"  {sub:<10}  {cmd.summary}")
    lines += ["", f"Run 'berth {noun} COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def _split_globals(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("--") and argv[i].split("=", 1)[0] in ("--root", "--run"):
        name, _, value = argv[i].partition("=")
        if not value:
            if i + 1 >= len(argv):
                raise SystemExit(f"berth: flag needs an argument: {name}")
            value = argv[i + 1]
            i += 1
        opts[name[2:]] = value
        i += 1
    return opts, argv[i:]


def main(argv: list[str] | None = None, ctx: Context | None = None) -> int:
    from ..errors import BerthError

    if argv is None:
        # The berth command itself (not a test calling main): trees that commands remove
        # are deleted after it answered (run --rm returns without waiting for the disk).
        from .. import fsutil
        fsutil.defer_discards()
        try:
            return main(sys.argv[1:], ctx)
        finally:
            fsutil.finish_discards()
    argv = list(argv)
    opts, argv = _split_globals(argv)
    ctx = ctx or Context(root=opts.get("root"), run=opts.get("run"))
    if not argv or argv[0] in ("-h", "--help", "help"):
        ctx.out(_usage())
        return 0
    if argv[0] in ("-v", "--version"):
        ctx.out(f"berth version {VERSION}")
        return 0

    if argv[0] in MANAGEMENT:
        noun = argv[0]
        if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
            ctx.out(_management_usage(noun))
            return 0
        key = MANAGEMENT[noun].get(argv[1])
        if key is None:
            ctx.err(f"berth: '{noun} {argv[1]}' is not a berth command.\nSee 'berth {noun} --help'")
            return 125
        prog, rest = f"berth {noun} {argv[1]}", argv[2:]
    else:
        key, prog, rest = argv[0], f"berth {argv[0]}", argv[1:]

    cmd = load_command(key)
    if cmd is None:
        ctx.err(f"berth: '{argv[0]}' is not a berth command.\nSee 'berth --help'")
        return 125
    parser = ArgumentParser(prog=prog, description=cmd.summary, usage=cmd.usage)
    cmd.configure(parser)
    try:
        args = parser.parse_args(rest)
        code = cmd.run(ctx, args)
        ctx.flush()
        return int(code or 0)
    except BerthError as exc:
        _flush_quietly(ctx)
        ctx.err(f"Error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `berth images | head`: the reader left; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _flush_quietly(ctx: Any) -> None:
    try:
        ctx.flush()
    except Exception:  # noqa: BLE001 - the error being reported matters more
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
