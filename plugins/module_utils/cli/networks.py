"""`berth network create/ls/inspect/rm/prune/connect/disconnect`, thin over engine.networks.

``connect`` and ``disconnect`` act on containers, so they go through engine.containers, which
updates the container's record and calls the network service.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import BerthError, InvalidSpec, NotFound
from .base import Command, Context


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not key:
            raise InvalidSpec(f"invalid {flag} {v!r}: expected key=value", field=flag, value=v)
        out[key] = value if sep else ""
    return out


def _one(values: list[str] | None, flag: str) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise InvalidSpec(f"{flag}: berth supports one IPv4 pool per network, got {len(values)}", field=flag,
                          value=values)
    return values[0]


# --- create ---------------------------------------------------------------------------------

def _configure_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", help="Subnet in CIDR format that represents a network segment")
    p.add_argument("--gateway", action="append", help="IPv4 Gateway for the master subnet")
    p.add_argument("--ip-range", action="append", help="Allocate container ip from a sub-range")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking (not supported)")
    p.add_argument("--ipam-driver", default="default", help="IP Address Management Driver")
    p.add_argument("--aux-address", action="append", help="Auxiliary IPv4 addresses (not supported)")


def cmd_create(ctx: Context, args: argparse.Namespace) -> int:
    from ..network.model import NetworkSpec
    if args.ipv6:
        raise InvalidSpec("--ipv6: IPv6 networks are not supported by berth yet", field="ipv6", value=True)
    if args.ipam_driver != "default":
        raise InvalidSpec(f"--ipam-driver {args.ipam_driver!r}: only the default IPAM driver exists",
                          field="ipam-driver", value=args.ipam_driver)
    if args.aux_address:
        raise InvalidSpec("--aux-address is not supported by berth", field="aux-address", value=args.aux_address)
    spec = NetworkSpec(driver=args.driver, subnet=_one(args.subnet, "subnet"),
                       gateway=_one(args.gateway, "gateway"), ip_range=_one(args.ip_range, "ip-range"),
                       internal=args.internal, attachable=args.attachable, labels=_pairs(args.label, "label"),
                       options=_pairs(args.opt, "opt"))
    ctx.out(ctx.engine.networks.create(args.name, spec)["Id"])
    return 0


# --- ls -------------------------------------------------------------------------------------

def _configure_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'driver=bridge')")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")


def _created_text(created: str) -> str:
    """Docker's CreatedAt column: ``2024-01-02 03:04:05.123456789 +0000 UTC``."""
    date, _, rest = created.partition("T")
    return f"{date} {rest.rstrip('Z')} +0000 UTC" if rest else created


def _row(n: dict[str, Any], trunc: bool) -> dict[str, Any]:
    labels = n.get("Labels") or {}
    return {
        "ID": n["Id"][:12] if trunc else n["Id"], "Name": n["Name"], "Driver": n["Driver"],
        "Scope": n["Scope"], "IPv6": str(n["EnableIPv6"]).lower(), "Internal": str(n["Internal"]).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": lambda name: labels.get(name, ""), "CreatedAt": _created_text(n.get("Created", "")),
    }


def cmd_ls(ctx: Context, args: argparse.Namespace) -> int:
    from ..network.filters import parse
    from .output import print_list
    nets = ctx.engine.networks.list(parse(args.filter))
    print_list(ctx, [_row(n, not args.no_trunc) for n in nets], args.format,
               "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
               {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                "Internal": "INTERNAL", "CreatedAt": "CREATED"}, quiet=args.quiet)
    return 0


# --- inspect --------------------------------------------------------------------------------

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")


def cmd_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from .output import inspect_each
    return inspect_each(ctx, args.networks, ctx.engine.networks.inspect, args.format)


# --- rm -------------------------------------------------------------------------------------

def _configure_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")


def cmd_rm(ctx: Context, args: argparse.Namespace) -> int:
    code = 0
    for ref in args.networks:
        try:
            ctx.engine.networks.remove(ref)
            ctx.out(ref)
        except NotFound as exc:
            if not args.force:
                ctx.err(f"Error: {exc}")
                code = 1
        except BerthError as exc:
            ctx.err(f"Error: {exc}")
            code = 1
    return code


# --- prune ----------------------------------------------------------------------------------

def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def until_epoch(value: str, now: float | None = None) -> float:
    """``until=``: a duration before now (``24h``, ``90m``, ``1h30m``), a unix time or RFC 3339."""
    import re
    now = time.time() if now is None else now
    if re.fullmatch(r"(\d+(\.\d+)?(h|m|s|ms))+", value):
        secs = 0.0
        for num, _frac, unit in re.findall(r"(\d+(\.\d+)?)(h|ms|m|s)", value):
            secs += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        return now - secs
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    from .output import parse_time
    try:
        return parse_time(value)
    except BerthError:
        raise InvalidSpec(f"invalid filter 'until={value}': expected a duration (24h) or a time",
                          field="filter", value=value) from None


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    from ..network.filters import parse
    from .output import parse_time
    filters = parse([f for f in args.filter if not f.startswith("until=")])
    until = [until_epoch(f.split("=", 1)[1]) for f in args.filter if f.startswith("until=")]
    from .output import confirm, print_deleted
    if not args.force and not confirm(
            ctx, "WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    svc = ctx.engine.networks
    if until:
        keep = {n["Id"] for n in svc.list(filters) if parse_time(n["Created"]) >= min(until)}
    else:
        keep = set()
    print_deleted(ctx, "Deleted Networks:", svc.prune(in_use=keep, filters=filters), blank=False)
    return 0


# --- connect and disconnect -----------------------------------------------------------------

def _configure_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias for the container")
    p.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", help="IPv6 address (not supported)")


def _container_call(ctx: Context, method: str) -> Any:
    fn = getattr(ctx.engine.containers, method, None)
    if fn is None:
        raise BerthError(f"the container service cannot {method.replace('_', ' ')} yet")
    return fn


def cmd_connect(ctx: Context, args: argparse.Namespace) -> int:
    if args.ip6:
        raise InvalidSpec("--ip6: IPv6 is not supported by berth yet", field="ip6", value=args.ip6)
    _container_call(ctx, "network_connect")(args.container, args.network, aliases=list(args.alias), ip=args.ip)
    return 0


def _configure_disconnect(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")


def cmd_disconnect(ctx: Context, args: argparse.Namespace) -> int:
    _container_call(ctx, "network_disconnect")(args.container, args.network, force=args.force)
    return 0


COMMANDS = {
    "network create": Command("Create a network", _configure_create, cmd_create,
                              "berth network create [OPTIONS] NETWORK"),
    "network ls": Command("List networks", _configure_ls, cmd_ls, "berth network ls [OPTIONS]"),
    "network inspect": Command("Display detailed information on one or more networks", _configure_inspect,
                               cmd_inspect, "berth network inspect [OPTIONS] NETWORK [NETWORK...]"),
    "network rm": Command("Remove one or more networks", _configure_rm, cmd_rm,
                          "berth network rm NETWORK [NETWORK...]"),
    "network prune": Command("Remove all unused networks", _configure_prune, cmd_prune,
                             "berth network prune [OPTIONS]"),
    "network connect": Command("Connect a container to a network", _configure_connect, cmd_connect,
                               "berth network connect [OPTIONS] NETWORK CONTAINER"),
    "network disconnect": Command("Disconnect a container from a network", _configure_disconnect,
                                  cmd_disconnect, "berth network disconnect [OPTIONS] NETWORK CONTAINER"),
}
