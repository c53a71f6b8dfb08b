"""The container verbs about processes, files and streams: attach exec logs top stats diff cp
commit export, with docker's flags and output."""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import time
from typing import Any

from ..errors import BerthError, InvalidSpec
from .base import Command, Context


def _binary(stream: Any) -> Any:
    return getattr(stream, "buffer", stream)


# --- attach and exec ------------------------------------------------------------------------

def _configure_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="Proxy all received signals to the process")
    p.add_argument("container", metavar="CONTAINER")


def cmd_attach(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    rec = svc.get(args.container)
    stdin = None if args.no_stdin or not rec.spec.interactive else _binary(ctx.stdin)
    code = ctx.engine.runtime.attach(rec.id, stdin, _binary(ctx.stdout), _binary(ctx.stderr),
                                     detach_keys=args.detach_keys)
    return 0 if code is None else int(code)


def _configure_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")


def cmd_exec(ctx: Context, args: argparse.Namespace) -> int:
    from ..containers import ocispec, options, userdb
    from ..fsutil import read_json

    if not args.command:
        raise InvalidSpec("exec requires at least 2 arguments", field="command")
    svc = ctx.engine.containers
    rec = svc.get(args.container)
    st = svc.state(rec.id)
    if not st["Running"]:
        raise InvalidSpec(f"container {rec.id} is not running", field="container", value=args.container)
    base = (read_json(ctx.engine.runtime.spec_path(rec.id), default={}).get("process") or {})
    extra: list[str] = []
    for f in args.env_file:
        extra += options.parse_env_file(f)
    extra += options.parse_env(args.env)
    process: dict[str, Any] = {"args": list(args.command), "terminal": args.tty,
                               "env": ocispec.merge_env(base.get("env") or [], extra)}
    if args.workdir:
        process["cwd"] = args.workdir
    if args.user:
        rootfs, release = svc.rootfs(rec.id)
        try:
            process["user"] = userdb.lookup(rootfs, args.user).to_oci()
        finally:
            release()
    if args.privileged:
        from ..runtime import caps
        process["capabilities"] = caps.oci_capabilities(caps.all_caps())
    stdin = _binary(ctx.stdin) if args.interactive and not args.detach else None
    out = None if args.detach else _binary(ctx.stdout)
    err = None if args.detach else _binary(ctx.stderr)
    ctx.flush()
    return int(ctx.engine.runtime.exec(rec.id, process, tty=args.tty, interactive=args.interactive,
                                       detach=args.detach, stdin=stdin, stdout=out, stderr=err) or 0)


# --- logs -----------------------------------------------------------------------------------

def _configure_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--since", help="Show logs since timestamp or relative (e.g. 42m for 42 minutes)")
    p.add_argument("--until", help="Show logs before a timestamp or relative (e.g. 42m for 42 minutes)")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("container", metavar="CONTAINER")


def cmd_logs(ctx: Context, args: argparse.Namespace) -> int:
    from ..runtime.logs import format_record, parse_since

    rec = ctx.engine.containers.get(args.container)
    if rec.spec.log_driver == "none":
        raise InvalidSpec('configured logging driver does not support reading', field="log_driver")
    tail = None
    if args.tail not in ("all", "-1", ""):
        try:
            tail = int(args.tail)
        except ValueError:
            raise InvalidSpec(f"invalid value for --tail: {args.tail!r}", field="tail", value=args.tail) from None
    out, err = _binary(ctx.stdout), _binary(ctx.stderr)
    ctx.flush()
    for stream, ts, data in ctx.engine.runtime.logs(rec.id, follow=args.follow, since=parse_since(args.since),
                                                    until=parse_since(args.until), tail=tail,
                                                    timestamps=args.timestamps):
        target = err if stream == "stderr" else out
        target.write(format_record(stream, ts, data, args.timestamps))
        if args.follow:
            target.flush()
    out.flush()
    err.flush()
    return 0


# --- top and stats --------------------------------------------------------------------------

def _configure_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")


def cmd_top(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    rec = svc.get(args.container)
    if not svc.state(rec.id)["Running"]:
        raise InvalidSpec(f"container {rec.id} is not running", field="container", value=args.container)
    pids = set(ctx.engine.runtime.top(rec.id))
    ps_args = args.ps_args or ["-ef"]
    r = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if r.returncode != 0:
        raise InvalidSpec(f"ps: {r.stderr.strip()}", field="ps_args", value=" ".join(ps_args))
    lines = r.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidSpec("Couldn't find PID field in ps output", field="ps_args")
    col = header.index("PID")
    rows = [ln.split(None, len(header) - 1) for ln in lines[1:]]
    rows = [r for r in rows if len(r) > col and r[col].isdigit() and int(r[col]) in pids]
    from .containers import _table
    _table(ctx, header, rows)
    return 0


def stats_row(cid: str, name: str, prev: dict[str, Any] | None, cur: dict[str, Any], trunc: bool) -> dict[str, Any]:
    """`docker stats` fields: CPU % from two samples, memory without page cache, I/O totals."""
    from .output import bytes_size, human_size

    cpu = 0.0
    if prev and cur:
        c0 = (prev.get("cpu") or {}).get("total_usage") or 0
        c1 = (cur.get("cpu") or {}).get("total_usage") or 0
        s0, s1 = prev.get("system_cpu_usage") or 0, cur.get("system_cpu_usage") or 0
        if s1 > s0 and c1 >= c0:
            cpu = (c1 - c0) / (s1 - s0) * (cur.get("online_cpus") or 1) * 100.0
    mem = cur.get("memory") or {}
    usage, limit = float(mem.get("usage") or 0), float(mem.get("limit") or 0)
    if not limit or limit >= (1 << 62):
        with contextlib.suppress(ValueError, OSError):
            limit = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    nets = cur.get("networks") or {}
    rx = sum(v.get("rx_bytes", 0) for v in nets.values())
    tx = sum(v.get("tx_bytes", 0) for v in nets.values())
    blk = cur.get("blkio") or {}
    short = cid[:12] if trunc else cid
    return {
        "Container": short, "ID": short, "Name": name,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(blk.get('read_bytes') or 0)} / {human_size(blk.get('write_bytes') or 0)}",
        "PIDs": str((cur.get("pids") or {}).get("current") or 0),
    }


STATS_HEADERS = {"Container": "CONTAINER ID", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                 "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
STATS_FORMAT = ("table {{.Container}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
                "\t{{.BlockIO}}\t{{.PIDs}}")


def _configure_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    if args.containers:
        recs = [svc.get(r) for r in args.containers]
    else:
        recs = [svc.store.read(c["Id"]) for c in svc.list(all=args.all)]

    def sample() -> dict[str, dict[str, Any]]:
        out = {}
        for r in recs:
            try:
                out[r.id] = ctx.engine.runtime.stats(r.id)
            except BerthError:
                out[r.id] = {}
        return out

    prev = sample()
    time.sleep(0.5 if args.no_stream else 1.0)
    while True:
        cur = sample()
        rows = [stats_row(r.id, r.name, prev.get(r.id), cur.get(r.id) or {}, not args.no_trunc) for r in recs]
        if not args.no_stream and ctx.interactive:
            ctx.stdout.write("\x1b[2J\x1b[H")
        from .output import print_list
        print_list(ctx, rows, args.format, STATS_FORMAT, STATS_HEADERS)
        ctx.flush()
        if args.no_stream:
            return 0
        prev = cur
        time.sleep(1.0)


# --- files: diff, cp, export, commit ----------------------------------------------------------

def _configure_one(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")


def cmd_diff(ctx: Context, args: argparse.Namespace) -> int:
    rec = ctx.engine.containers.get(args.container)
    for kind, path in ctx.engine.snapshots.changes(rec.id):
        ctx.out(f"{kind} {path}")
    return 0


def _configure_cp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output during copy")
    p.add_argument("src", metavar="SRC_PATH")
    p.add_argument("dest", metavar="DEST_PATH")


def _split_container(arg: str) -> tuple[str | None, str]:
    if arg == "-" or arg.startswith(("/", ".")):
        return None, arg
    name, sep, path = arg.partition(":")
    if not sep or "/" in name:
        return None, arg
    return name, path


def cmd_cp(ctx: Context, args: argparse.Namespace) -> int:
    from ..containers import copy

    src_c, src = _split_container(args.src)
    dst_c, dst = _split_container(args.dest)
    if (src_c is None) == (dst_c is None):
        raise InvalidSpec("copying between containers is not supported" if src_c else
                          "must specify at least one container source", field="path")
    svc = ctx.engine.containers
    rootfs, release = svc.rootfs(src_c or dst_c)  # type: ignore[arg-type]
    try:
        if src_c is not None:
            if dst == "-":
                ctx.flush()
                copy.tar_out(rootfs, src, _binary(ctx.stdout), follow=args.follow_link)
            else:
                copy.copy_out(rootfs, src, dst, follow=args.follow_link)
        else:
            if src == "-":
                copy.tar_in(rootfs, dst, _binary(ctx.stdin))
            else:
                copy.copy_in(src, rootfs, dst, follow=args.follow_link)
    finally:
        release()
    if not args.quiet and ctx.interactive:
        ctx.err(f"Successfully copied to {args.dest}")
    return 0


def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    from ..containers import copy

    if not args.output and ctx.interactive:
        raise InvalidSpec("cowardly refusing to save to a terminal. Use the -o flag or redirect", field="output")
    rootfs, release = ctx.engine.containers.rootfs(args.container)
    try:
        if args.output:
            tmp = args.output + ".tmp"
            with open(tmp, "wb") as f:
                copy.export_tar(rootfs, f)
            os.replace(tmp, args.output)
        else:
            ctx.flush()
            copy.export_tar(rootfs, _binary(ctx.stdout))
    finally:
        release()
    return 0


def _configure_commit(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Commit message")
    p.add_argument("-p", "--pause", default="true", nargs="?", const="true",
                   help="Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="[REPOSITORY[:TAG]]")


def cmd_commit(ctx: Context, args: argparse.Namespace) -> int:
    from ..containers.commit import commit

    rec = commit(ctx.engine, args.container, args.repository, author=args.author, message=args.message,
                 changes=args.change, pause=args.pause not in ("false", "0"))
    ctx.out(rec.id)
    return 0


COMMANDS = {
    "attach": Command("Attach local standard input, output, and error streams to a running container",
                      _configure_attach, cmd_attach),
    "exec": Command("Execute a command in a running container", _configure_exec, cmd_exec,
                    "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]"),
    "logs": Command("Fetch the logs of a container", _configure_logs, cmd_logs),
    "top": Command("Display the running processes of a container", _configure_top, cmd_top),
    "stats": Command("Display a live stream of container(s) resource usage statistics", _configure_stats, cmd_stats),
    "diff": Command("Inspect changes to files or directories on a container's filesystem", _configure_one, cmd_diff),
    "cp": Command("Copy files/folders between a container and the local filesystem", _configure_cp, cmd_cp,
                  "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       "
                  "berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"),
    "commit": Command("Create a new image from a container's changes", _configure_commit, cmd_commit),
    "export": Command("Export a container's filesystem as a tar archive", _configure_export, cmd_export),
}
