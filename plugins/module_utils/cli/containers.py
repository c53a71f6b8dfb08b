"""The container verbs of `berth`: run create start stop kill restart rm pause unpause rename wait
ps port `container inspect` `container prune` update, with docker's flags, output and exit codes.

Docker stops reading flags at the image: everything after it is the command. argparse does the
same with a REMAINDER positional after the image, and accepts combined short flags (``-it``,
``-dp 80:80``) as docker's parser does.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from ..errors import BerthError, InvalidSpec, NotFound
from .base import Command, Context


def add_create_flags(p: argparse.ArgumentParser) -> None:
    p.conflict_handler = p._optionals.conflict_handler = "resolve"  # docker's -h is --hostname
    a = p.add_argument
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--name", help="Assign a name to the container")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-w", "--workdir", help="Working directory inside the container")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("-h", "--hostname", help="Container host name")
    a("--domainname", help="Container NIS domain name")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("--init", action="store_true", help="Run an init inside the container that forwards signals and reaps processes")
    a("-l", "--label", action="append", default=[], help="Set meta data on a container")
    a("--label-file", action="append", default=[], help="Read in a line delimited file of labels")
    a("--restart", default="no", help="Restart policy to apply when a container exits")
    a("-m", "--memory", help="Memory limit")
    a("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    a("--memory-reservation", help="Memory soft limit")
    a("--cpus", help="Number of CPUs")
    a("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    a("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
    a("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    a("--cap-add", action="append", default=[], help="Add Linux capabilities")
    a("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    a("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    a("--stop-signal", help="Signal to stop the container")
    a("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
    a("--network", "--net", default="bridge", help="Connect a container to a network")
    a("--network-alias", action="append", default=[], help="Add network-scoped alias for the container")
    a("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port(s) to the host")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    a("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    a("--volumes-from", action="append", default=[], help="Mount volumes from the specified container(s)")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--dns-option", action="append", default=[], help="Set DNS options")
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    a("--log-driver", default="json-file", help="Logging driver for the container")
    a("--log-opt", action="append", default=[], help="Log driver options")
    a("--sysctl", action="append", default=[], help="Sysctl options")
    a("--ulimit", action="append", default=[], help="Ulimit options")
    a("--health-cmd", help="Command to run to check health")
    a("--health-interval", help="Time between running the check (ms|s|m|h)")
    a("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)")
    a("--health-start-period", help="Start period for the container to initialize (ms|s|m|h)")
    a("--health-retries", type=int, help="Consecutive failures needed to report unhealthy")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("--pull", default="missing", choices=("always", "missing", "never"), help="Pull image before running")
    a("--platform", help="Set platform if server is multi-platform capable")
    a("image", metavar="IMAGE")
    a("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")


def spec_from_args(args: argparse.Namespace) -> Any:
    from ..containers import options as o
    from ..containers.spec import ContainerSpec, Healthcheck, NetworkAttachment, Resources

    env: list[str] = []
    for f in args.env_file:
        env += o.parse_env_file(f)
    env += o.parse_env(args.env)
    labels: list[str] = []
    for f in args.label_file:
        labels += o.parse_label_file(f)
    mounts = [o.parse_volume(v) for v in args.volume] + [o.parse_mount(m) for m in args.mount]
    tmpfs = dict(o.parse_tmpfs(t) for t in args.tmpfs)
    ports = [b for v in args.publish for b in o.parse_publish(v)]
    expose = [e for v in args.expose for e in o.parse_expose(v)]
    resources = Resources(
        memory=o.parse_bytes(args.memory, "--memory") if args.memory else None,
        memory_swap=o.parse_bytes(args.memory_swap, "--memory-swap") if args.memory_swap else None,
        memory_reservation=(o.parse_bytes(args.memory_reservation, "--memory-reservation")
                            if args.memory_reservation else None),
        cpus=o.parse_cpus(args.cpus) if args.cpus else None,
        cpu_shares=args.cpu_shares, cpuset_cpus=args.cpuset_cpus, pids_limit=args.pids_limit,
        oom_kill_disable=args.oom_kill_disable)
    health = None
    if args.no_healthcheck:
        health = Healthcheck(("NONE",))
    elif any(v is not None for v in (args.health_cmd, args.health_interval, args.health_timeout,
                                     args.health_start_period, args.health_retries)):
        health = Healthcheck(
            ("CMD-SHELL", args.health_cmd) if args.health_cmd else (),
            interval=o.parse_duration_ns(args.health_interval or 0, "--health-interval"),
            timeout=o.parse_duration_ns(args.health_timeout or 0, "--health-timeout"),
            start_period=o.parse_duration_ns(args.health_start_period or 0, "--health-start-period"),
            retries=args.health_retries or 0)
    network = args.network
    networks = ()
    if args.network_alias or args.ip:
        networks = (NetworkAttachment(network, tuple(args.network_alias), args.ip),)
    command = tuple(args.command) if args.command else None
    if command and command[0] == "--":
        command = command[1:] or None
    return ContainerSpec(
        image=args.image, name=args.name, command=command,
        entrypoint=(args.entrypoint,) if args.entrypoint is not None else None,
        env=tuple(env), user=args.user, working_dir=args.workdir, hostname=args.hostname,
        domainname=args.domainname, labels=o.parse_labels(labels + args.label),
        restart_policy=o.parse_restart(args.restart), resources=resources,
        cap_add=tuple(args.cap_add), cap_drop=tuple(args.cap_drop), privileged=args.privileged,
        security_opt=tuple(o.parse_security_opt(s) for s in args.security_opt), read_only=args.read_only,
        tmpfs=tmpfs, init=args.init, stop_signal=args.stop_signal, stop_timeout=args.stop_timeout,
        tty=args.tty, interactive=args.interactive, auto_remove=args.rm, network_mode=network,
        networks=networks, ports=tuple(ports), publish_all=args.publish_all, mounts=tuple(mounts),
        volumes_from=tuple(args.volumes_from), dns=tuple(args.dns), dns_search=tuple(args.dns_search),
        dns_options=tuple(args.dns_option), extra_hosts=tuple(o.parse_add_host(h) for h in args.add_host),
        log_driver=args.log_driver, log_opts=o.parse_log_opts(args.log_opt), healthcheck=health,
        sysctls=dict(o.parse_sysctl(s) for s in args.sysctl),
        ulimits=tuple(o.parse_ulimit(u) for u in args.ulimit), expose=tuple(expose))


# --- output helpers -----------------------------------------------------------------------

def _table(ctx: Context, header: list[str], rows: list[list[str]]) -> None:
    from .output import Table
    t = Table(header)
    for r in rows:
        t.add(*r)
    ctx.stdout.write(t.render())


def ellipsis(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def ports_text(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in sorted(ports, key=lambda p: (p.get("PublicPort") is None, p["PrivatePort"], p["Type"])):
        if p.get("PublicPort"):
            out.append(f"{p.get('IP', '0.0.0.0')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}")
        else:
            out.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(out)


def ps_row(c: dict[str, Any], trunc: bool) -> dict[str, Any]:
    """The fields docker's `ps --format` offers: .ID .Image .Command .CreatedAt .RunningFor ..."""
    from .output import human_size, since

    labels = c["Labels"]
    size = ""
    if "SizeRw" in c:
        size = f"{human_size(c['SizeRw'])} (virtual {human_size(c['SizeRootFs'])})"
    return {
        "ID": c["Id"][:12] if trunc else c["Id"],
        "Image": c["Image"],
        "Command": '"' + (ellipsis(c["Command"], 20) if trunc else c["Command"]) + '"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c["Created"])),
        "RunningFor": since(c["Created"]),
        "Ports": ports_text(c["Ports"]),
        "State": c["State"],
        "Status": c["Status"],
        "Size": size,
        "Names": ",".join(n.lstrip("/") for n in c["Names"]),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": lambda name: labels.get(name, ""),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c["Mounts"]),
        "Networks": ",".join(sorted(c["NetworkSettings"]["Networks"])),
        "LocalVolumes": str(sum(1 for m in c["Mounts"] if m.get("Type") == "volume")),
    }


PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES"}
PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            raise InvalidSpec(f"bad format of filter (expected name=value): {v}", field="filter", value=v)
        out.setdefault(key.strip().lower(), []).append(val)
    return out


# --- run and create -----------------------------------------------------------------------

def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching a container")
    p.add_argument("-a", "--attach", action="append", default=[], help="Attach to STDIN, STDOUT or STDERR")
    p.add_argument("--sig-proxy", default="true", help="Proxy received signals to the process")
    add_create_flags(p)


def _binary(stream: Any) -> Any:
    return getattr(stream, "buffer", stream)


def _create(ctx: Context, args: argparse.Namespace) -> Any:
    spec = spec_from_args(args)
    svc = ctx.engine.containers
    if args.pull == "always":
        ctx.engine.registry.pull(spec.image, platform=args.platform)
        return svc.create(spec)
    try:
        return svc.create(spec)
    except NotFound:
        # a missing volume or container (--volumes-from) is not a reason to pull
        if args.pull == "never" or ctx.engine.images.exists(spec.image):
            raise
    # Docker pulls a missing image on create and run.
    ctx.err(f"Unable to find image '{spec.image}' locally")
    ctx.engine.registry.pull(spec.image, platform=args.platform)
    return svc.create(spec)


@contextlib.contextmanager
def _discard_on_failure(svc: Any, rec: Any) -> Iterator[None]:
    """A --rm container whose start failed is removed, as docker removes it."""
    try:
        yield
    except BaseException:
        if rec.spec.auto_remove:
            with contextlib.suppress(BerthError):
                svc.remove(rec.id, force=True, volumes=True)
        raise


def _start_attached(ctx: Context, rec: Any, interactive: bool, detach_keys: str) -> int:
    """Launch with the attach already in place (nothing printed is missed), as docker does."""
    svc = ctx.engine.containers
    ctx.flush()
    stdin = _binary(ctx.stdin) if interactive else None
    with _discard_on_failure(svc, rec):
        code = svc.start_attached(rec.id, stdin, _binary(ctx.stdout), _binary(ctx.stderr), detach_keys)
    if code is None:
        return 0
    if rec.spec.auto_remove:
        # The monitor's exit command removes it too; doing it here, in a process that has
        # everything imported already, means that when `run --rm` returns the container is
        # gone, as with docker, and costs less than the exit command would.
        with contextlib.suppress(BerthError):
            svc.remove(rec.id, force=True, volumes=True)
    return int(code)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    rec = _create(ctx, args)
    if args.detach:
        with _discard_on_failure(ctx.engine.containers, rec):
            ctx.engine.containers.start(rec.id)
        ctx.out(rec.id)
        return 0
    return _start_attached(ctx, rec, args.interactive, args.detach_keys)


def cmd_create(ctx: Context, args: argparse.Namespace) -> int:
    rec = _create(ctx, args)
    ctx.out(rec.id)
    return 0


# --- life cycle ---------------------------------------------------------------------------

def _each(ctx: Context, refs: list[str], fn: Any, echo: bool = True) -> int:
    """Docker applies a verb to each container, reports failures and exits 1 if any failed."""
    failed = 0
    for ref in refs:
        try:
            fn(ref)
            if echo:
                ctx.out(ref)
        except BerthError as exc:
            ctx.err(f"Error response from daemon: {exc}")
            failed = 1
    return failed


def _configure_refs(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def _configure_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching")
    _configure_refs(p)


def cmd_start(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise InvalidSpec("you cannot start and attach multiple containers at once", field="attach")
        rec = svc.get(args.containers[0])
        if svc.state(rec.id)["Running"]:
            stdin = _binary(ctx.stdin) if args.interactive else None
            code = ctx.engine.runtime.attach(rec.id, stdin, _binary(ctx.stdout), _binary(ctx.stderr),
                                             detach_keys=args.detach_keys)
            return 0 if code is None else int(code)
        return _start_attached(ctx, rec, args.interactive, args.detach_keys)
    return _each(ctx, args.containers, svc.start)


def _configure_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int, help="Seconds to wait before killing the container")
    _configure_refs(p)


def cmd_stop(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    return _each(ctx, args.containers, lambda r: svc.stop(r, args.time, args.signal))


def cmd_restart(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    return _each(ctx, args.containers, lambda r: svc.restart(r, args.time))


def _configure_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    _configure_refs(p)


def cmd_kill(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    return _each(ctx, args.containers, lambda r: svc.kill(r, args.signal))


def _configure_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container")
    p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    _configure_refs(p)


def cmd_rm(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    return _each(ctx, args.containers, lambda r: svc.remove(r, args.force, args.volumes))


def cmd_pause(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args.containers, ctx.engine.containers.pause)


def cmd_unpause(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args.containers, ctx.engine.containers.unpause)


def _configure_rename(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def cmd_rename(ctx: Context, args: argparse.Namespace) -> int:
    ctx.engine.containers.rename(args.container, args.new_name)
    return 0


def _configure_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--condition", default="not-running", choices=("not-running", "next-exit", "removed"))
    _configure_refs(p)


def cmd_wait(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    failed = 0
    for ref in args.containers:
        try:
            ctx.out(str(svc.wait(ref, args.condition)))
        except BerthError as exc:
            ctx.err(f"Error response from daemon: {exc}")
            failed = 1
    return failed


def _configure_update(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("-m", "--memory")
    a("--memory-swap")
    a("--memory-reservation")
    a("--cpus")
    a("-c", "--cpu-shares", type=int)
    a("--cpuset-cpus")
    a("--pids-limit", type=int)
    a("--restart")
    _configure_refs(p)


def cmd_update(ctx: Context, args: argparse.Namespace) -> int:
    from ..containers import options as o
    from ..containers.spec import Resources

    res = Resources(
        memory=o.parse_bytes(args.memory, "--memory") if args.memory else None,
        memory_swap=o.parse_bytes(args.memory_swap, "--memory-swap") if args.memory_swap else None,
        memory_reservation=(o.parse_bytes(args.memory_reservation, "--memory-reservation")
                            if args.memory_reservation else None),
        cpus=o.parse_cpus(args.cpus) if args.cpus else None, cpu_shares=args.cpu_shares,
        cpuset_cpus=args.cpuset_cpus, pids_limit=args.pids_limit)
    policy = o.parse_restart(args.restart) if args.restart else None
    svc = ctx.engine.containers
    return _each(ctx, args.containers, lambda r: svc.update(r, res, policy))


# --- queries ------------------------------------------------------------------------------

def _configure_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container")
    p.add_argument("-n", "--last", type=int, default=-1, help="Show n last created containers")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template")


def cmd_ps(ctx: Context, args: argparse.Namespace) -> int:
    from .output import print_list

    last = 1 if args.latest else (args.last if args.last > 0 else None)
    fmt = args.format
    size = args.size or bool(fmt and ".Size" in fmt)
    items = ctx.engine.containers.list(all=args.all, filters=parse_filters(args.filter), last=last, size=size)
    rows = [ps_row(c, not args.no_trunc) for c in items]
    default = PS_FORMAT + ("\t{{.Size}}" if size else "")
    print_list(ctx, rows, fmt, default, PS_HEADERS, quiet=args.quiet)
    return 0


def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    _configure_refs(p)


def cmd_inspect(ctx: Context, args: argparse.Namespace) -> int:
    svc = ctx.engine.containers
    found, failed = [], 0
    for ref in args.containers:
        try:
            found.append(svc.inspect(ref, size=args.size))
        except NotFound as exc:
            ctx.err(f"Error: {exc}")
            failed = 1
    from .output import print_inspect
    print_inspect(ctx, found, args.format)
    return failed


def _configure_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def cmd_port(ctx: Context, args: argparse.Namespace) -> int:
    ports = ctx.engine.containers.port(args.container)
    want = None
    if args.private_port:
        port, _, proto = args.private_port.partition("/")
        want = (int(port), proto or "tcp")
    lines = []
    for p in sorted(ports, key=lambda p: (p["container_port"], p["protocol"])):
        if not p.get("host_port"):
            continue
        if want and (p["container_port"], p["protocol"]) != want:
            continue
        host = f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}"
        lines.append(host if want else f"{p['container_port']}/{p['protocol']} -> {host}")
    if want and not lines:
        raise NotFound(f"No public port '{args.private_port}' published for {args.container}",
                       value=args.private_port)
    for line in lines:
        ctx.out(line)
    return 0


def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    from .output import confirm, human_size, print_deleted
    if not args.force and not confirm(ctx, "WARNING! This will remove all stopped containers."):
        return 0
    result = ctx.engine.containers.prune(parse_filters(args.filter))
    print_deleted(ctx, "Deleted Containers:", result["ContainersDeleted"])
    ctx.out(f"Total reclaimed space: {human_size(result['SpaceReclaimed'])}")
    return 0


COMMANDS = {
    "run": Command("Create and run a new container from an image", _configure_run, cmd_run,
                   "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    "create": Command("Create a new container", add_create_flags, cmd_create,
                      "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    "start": Command("Start one or more stopped containers", _configure_start, cmd_start),
    "stop": Command("Stop one or more running containers", _configure_stop, cmd_stop),
    "restart": Command("Restart one or more containers", _configure_stop, cmd_restart),
    "kill": Command("Kill one or more running containers", _configure_kill, cmd_kill),
    "rm": Command("Remove one or more containers", _configure_rm, cmd_rm),
    "pause": Command("Pause all processes within one or more containers", _configure_refs, cmd_pause),
    "unpause": Command("Unpause all processes within one or more containers", _configure_refs, cmd_unpause),
    "rename": Command("Rename a container", _configure_rename, cmd_rename),
    "wait": Command("Block until one or more containers stop, then print their exit codes", _configure_wait,
                    cmd_wait),
    "update": Command("Update configuration of one or more containers", _configure_update, cmd_update),
    "ps": Command("List containers", _configure_ps, cmd_ps),
    "container inspect": Command("Display detailed information on one or more containers", _configure_inspect,
                                 cmd_inspect),
    "port": Command("List port mappings or a specific mapping for the container", _configure_port, cmd_port),
    "container prune": Command("Remove all stopped containers", _configure_prune, cmd_prune),
}
