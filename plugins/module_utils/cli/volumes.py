"""`berth volume create/ls/inspect/rm/prune`: thin over engine.volumes, with Docker's output."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import BerthError, InvalidSpec
from .base import Command, Context


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not key:
            raise InvalidSpec(f"invalid {flag} {v!r}: expected key=value", field=flag, value=v)
        out[key] = value if sep else ""
    return out


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise InvalidSpec(f"bad format of filter (expected name=value): {v}", field="filter", value=v)
        out.setdefault(key.lower(), []).append(value)
    return out


def _users(ctx: Context) -> dict[str, list[str]]:
    from ..volumes.usage import volume_users
    return volume_users(ctx.engine)


def _human_size(n: int) -> str:
    from .output import human_size
    return human_size(n)


# --- create ---------------------------------------------------------------------------------

def _configure_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="VOLUME")
    p.add_argument("--name", dest="name_opt", help="Specify volume name")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")


def cmd_create(ctx: Context, args: argparse.Namespace) -> int:
    if args.name and args.name_opt and args.name != args.name_opt:
        raise InvalidSpec(f"conflicting options: either specify --name or provide positional arg, not both "
                          f"({args.name_opt!r} and {args.name!r})", field="name", value=args.name)
    vol = ctx.engine.volumes.create(args.name or args.name_opt, args.driver, _pairs(args.opt, "opt"),
                                    _pairs(args.label, "label"))
    ctx.out(vol["Name"])
    return 0


# --- ls -------------------------------------------------------------------------------------

def _configure_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'dangling=true')")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")


def _row(v: dict[str, Any]) -> dict[str, Any]:
    labels = v.get("Labels") or {}
    return {
        "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"], "Mountpoint": v["Mountpoint"],
        "Labels": ",".join(f"{k}={val}" for k, val in sorted(labels.items())),
        "Label": lambda name: labels.get(name, ""),
        "Links": "N/A", "Size": "N/A", "CreatedAt": v.get("CreatedAt", ""),
    }


def cmd_ls(ctx: Context, args: argparse.Namespace) -> int:
    from .output import print_list
    filters = parse_filters(args.filter)
    in_use = set(_users(ctx)) if "dangling" in filters else set()
    vols = ctx.engine.volumes.list(filters, in_use=in_use)
    print_list(ctx, [_row(v) for v in vols], args.format, "table {{.Driver}}\t{{.Name}}",
               {"Name": "VOLUME NAME", "Driver": "DRIVER", "Mountpoint": "MOUNTPOINT"}, quiet=args.quiet,
               quiet_field="Name")
    return 0


# --- inspect --------------------------------------------------------------------------------

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--format", help="Format output using a custom template")


def cmd_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from .output import inspect_each
    return inspect_each(ctx, args.volumes, ctx.engine.volumes.inspect, args.format)


# --- rm -------------------------------------------------------------------------------------

def _configure_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")


def cmd_rm(ctx: Context, args: argparse.Namespace) -> int:
    users = _users(ctx)
    code = 0
    for name in args.volumes:
        try:
            ctx.engine.volumes.remove(name, force=args.force, in_use=users)
            ctx.out(name)
        except BerthError as exc:
            ctx.err(f"Error: {exc}")
            code = 1
    return code


# --- prune ----------------------------------------------------------------------------------

def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<label>')")


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter)
    for key in filters:
        if key not in ("label", "all"):
            raise InvalidSpec(f"invalid filter {key!r}", field="filter", value=key)
    prune_all = args.all or any(v.lower() in ("1", "true") for v in filters.pop("all", []))
    from .output import confirm, print_deleted
    if not args.force:
        what = "all local volumes" if prune_all else "anonymous local volumes"
        if not confirm(ctx, f"WARNING! This will remove {what} not used by at least one container."):
            return 0
    result = ctx.engine.volumes.prune(in_use=set(_users(ctx)), all=prune_all, filters=filters)
    print_deleted(ctx, "Deleted Volumes:", result["VolumesDeleted"])
    ctx.out(f"Total reclaimed space: {_human_size(result['SpaceReclaimed'])}")
    return 0


COMMANDS = {
    "volume create": Command("Create a volume", _configure_create, cmd_create,
                             "berth volume create [OPTIONS] [VOLUME]"),
    "volume ls": Command("List volumes", _configure_ls, cmd_ls, "berth volume ls [OPTIONS]"),
    "volume inspect": Command("Display detailed information on one or more volumes", _configure_inspect,
                              cmd_inspect, "berth volume inspect [OPTIONS] VOLUME [VOLUME...]"),
    "volume rm": Command("Remove one or more volumes", _configure_rm, cmd_rm,
                         "berth volume rm [OPTIONS] VOLUME [VOLUME...]"),
    "volume prune": Command("Remove unused local volumes", _configure_prune, cmd_prune,
                            "berth volume prune [OPTIONS]"),
}
