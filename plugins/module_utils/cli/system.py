"""`berth system df`, `system prune`, `version`, `info` and the generic `inspect`."""
from __future__ import annotations

import argparse
import os
import platform
from typing import Any

from ..errors import BerthError, InvalidSpec, NotFound
from .base import Command, Context, add_format_option

DF_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}


def _out() -> Any:
    from . import output
    return output


def _pct(part: int, total: int) -> str:
    out = _out()
    if total <= 0:
        return out.human_size(part)
    return f"{out.human_size(part)} ({int(part * 100 / total)}%)"


# --- system df ------------------------------------------------------------------------------

def _configure_df(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    p.add_argument("--format", help="Format output using a custom template")


def df_summary(du: dict[str, Any]) -> list[dict[str, Any]]:
    """The four rows of `docker system df` from the /system/df data."""
    images = du["Images"]
    layers = int(du.get("LayersSize") or 0)
    active_images = [i for i in images if i.get("Containers", 0) > 0]
    used = sum(i["Size"] - i.get("SharedSize", 0) for i in active_images)
    used += max((i.get("SharedSize", 0) for i in active_images), default=0)
    containers = du["Containers"]
    rw = sum(int(c.get("SizeRw") or 0) for c in containers)
    running = [c for c in containers if c.get("State") == "running"]
    rw_idle = sum(int(c.get("SizeRw") or 0) for c in containers if c.get("State") != "running")
    vols = du["Volumes"]
    vsize = sum(max(0, int(v["UsageData"]["Size"])) for v in vols)
    vactive = [v for v in vols if v["UsageData"]["RefCount"] > 0]
    vidle = sum(max(0, int(v["UsageData"]["Size"])) for v in vols if v["UsageData"]["RefCount"] == 0)
    cache = du["BuildCache"]
    csize = sum(int(c.get("Size") or 0) for c in cache)
    cidle = sum(int(c.get("Size") or 0) for c in cache if not c.get("InUse"))
    out = _out()
    return [
        {"Type": "Images", "TotalCount": len(images), "Active": len(active_images),
         "Size": out.human_size(layers), "Reclaimable": _pct(max(0, layers - min(used, layers)), layers)},
        {"Type": "Containers", "TotalCount": len(containers), "Active": len(running),
         "Size": out.human_size(rw), "Reclaimable": _pct(rw_idle, rw)},
        {"Type": "Local Volumes", "TotalCount": len(vols), "Active": len(vactive),
         "Size": out.human_size(vsize), "Reclaimable": _pct(vidle, vsize)},
        {"Type": "Build Cache", "TotalCount": len(cache), "Active": len([c for c in cache if c.get("InUse")]),
         "Size": out.human_size(csize), "Reclaimable": out.human_size(cidle)},
    ]


def cmd_df(ctx: Context, args: argparse.Namespace) -> int:
    du = ctx.engine.system_df()
    out = _out()
    if not args.verbose:
        out.print_list(ctx, df_summary(du), args.format, DF_FORMAT, DF_HEADERS)
        return 0
    from .images import _split_ref
    ctx.out("Images space usage:\n")
    rows = []
    for i in du["Images"]:
        pairs = [_split_ref(t) for t in i["RepoTags"]] or [("<none>", "<none>")]
        for repo, tag in pairs:
            rows.append({"Repository": repo, "Tag": tag, "ID": out.short_id(i["Id"]),
                         "CreatedSince": out.since(i["Created"]) if i["Created"] else "N/A",
                         "Size": out.human_size(i["Size"]), "SharedSize": out.human_size(i["SharedSize"]),
                         "UniqueSize": out.human_size(i["Size"] - i["SharedSize"]),
                         "Containers": str(i["Containers"])})
    out.print_list(ctx, rows, None, "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                   "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
                   {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                    "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                    "Containers": "CONTAINERS"})
    ctx.out("\nContainers space usage:\n")
    crow = [{"ID": out.short_id(c.get("Id", "")), "Image": c.get("Image", ""),
             "Command": c.get("Command", ""), "LocalVolumes": "0",
             "Size": out.human_size(int(c.get("SizeRw") or 0)),
             "CreatedSince": out.since(c["Created"]) if c.get("Created") else "N/A",
             "Status": c.get("Status", ""), "Names": ",".join(n.lstrip("/") for n in c.get("Names") or [])}
            for c in du["Containers"]]
    out.print_list(ctx, crow, None, "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
                   "\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}",
                   {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES",
                    "Size": "SIZE", "CreatedSince": "CREATED", "Status": "STATUS", "Names": "NAMES"})
    ctx.out("\nLocal Volumes space usage:\n")
    vrow = [{"Name": v["Name"], "Links": str(v["UsageData"]["RefCount"]),
             "Size": out.human_size(max(0, int(v["UsageData"]["Size"])))} for v in du["Volumes"]]
    out.print_list(ctx, vrow, None, "table {{.Name}}\t{{.Links}}\t{{.Size}}",
                   {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"})
    ctx.out("\nBuild cache usage: " + out.human_size(sum(int(c.get("Size") or 0) for c in du["BuildCache"])))
    return 0


# --- system prune ---------------------------------------------------------------------------

def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<key>=<value>')")


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    from ..system import prune
    from .images import parse_filters
    from .output import confirm, print_deleted
    filters = parse_filters(args.filter, ("until", "label", "label!"))
    if not args.force:
        lines = ["WARNING! This will remove:", "  - all stopped containers", "  - all networks not used by at "
                 "least one container"]
        if args.volumes:
            lines.append("  - all anonymous volumes not used by at least one container")
        lines.append("  - all images without at least one container associated to them" if args.all
                     else "  - all dangling images")
        lines.append("  - unused build cache" if args.all else "  - all dangling build cache")
        if not confirm(ctx, "\n".join(lines) + "\n"):
            return 0
    res = prune(ctx.engine, all_images=args.all, volumes=args.volumes, filters=filters)
    for title, key in (("Deleted Containers:", "ContainersDeleted"), ("Deleted Networks:", "NetworksDeleted"),
                       ("Deleted Volumes:", "VolumesDeleted")):
        print_deleted(ctx, title, res[key])
    print_deleted(ctx, "Deleted Images:", [f"{k.lower()}: {v}" for item in res["ImagesDeleted"] or []
                                           for k, v in item.items()])
    print_deleted(ctx, "Deleted build cache objects:", res["CachesDeleted"])
    ctx.out(f"Total reclaimed space: {_out().human_size(res['SpaceReclaimed'])}")
    return 0


# --- version and info -----------------------------------------------------------------------

def _configure_version(p: argparse.ArgumentParser) -> None:
    add_format_option(p)


def version_data() -> dict[str, Any]:
    from .main import VERSION
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    py = platform.python_version()
    client = {"Version": VERSION, "ApiVersion": "1.43", "PythonVersion": py, "Os": "linux", "Arch": arch,
              "Platform": {"Name": "berth"}}
    server = {"Platform": {"Name": "berth (daemonless)"}, "Version": VERSION, "ApiVersion": "1.43",
              "MinAPIVersion": "1.24", "Os": "linux", "Arch": arch, "KernelVersion": platform.release(),
              "Components": [{"Name": "Engine", "Version": VERSION, "Details": {"PythonVersion": py}}]}
    return {"Client": client, "Server": server}


def cmd_version(ctx: Context, args: argparse.Namespace) -> int:
    data = version_data()
    if args.format:
        from . import gotemplate
        ctx.out(gotemplate.render(args.format, data))
        return 0
    c, s = data["Client"], data["Server"]
    ctx.out("Client:")
    ctx.out(f" Version:           {c['Version']}")
    ctx.out(f" API version:       {c['ApiVersion']}")
    ctx.out(f" Python version:    {c['PythonVersion']}")
    ctx.out(f" OS/Arch:           {c['Os']}/{c['Arch']}")
    ctx.out("")
    ctx.out(f"Server: {s['Platform']['Name']}")
    ctx.out(" Engine:")
    ctx.out(f"  Version:          {s['Version']}")
    ctx.out(f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})")
    ctx.out(f"  OS/Arch:          {s['Os']}/{s['Arch']}")
    ctx.out(f"  Kernel version:   {s['KernelVersion']}")
    return 0


def _configure_info(p: argparse.ArgumentParser) -> None:
    add_format_option(p)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def info_data(ctx: Context) -> dict[str, Any]:
    from .main import VERSION
    eng = ctx.engine
    states = {"running": 0, "paused": 0, "exited": 0}
    total = 0
    try:
        for c in eng.containers.list(all=True):
            total += 1
            st = c.get("State", "")
            key = st if st in states else "exited"
            states[key] += 1
    except (ImportError, AttributeError, BerthError):
        pass
    cgroup_version = "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"
    backing = "unknown"
    try:
        root = os.path.realpath(eng.paths.root if eng.paths.root.exists() else "/")
        best = ""
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if (root + "/").startswith(parts[1].rstrip("/") + "/") and len(parts[1]) >= len(best):
                    best, backing = parts[1], parts[2]
    except OSError:
        pass
    return {
        "ID": "", "Containers": total, "ContainersRunning": states["running"],
        "ContainersPaused": states["paused"], "ContainersStopped": states["exited"],
        "Images": len(eng.images.list()), "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", backing], ["Supports d_type", "true"]],
        "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version,
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": platform.machine(), "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
        "Name": platform.node(), "DockerRootDir": str(eng.paths.root), "ServerVersion": VERSION,
        "Runtimes": {"berth": {"path": "builtin"}}, "DefaultRuntime": "berth",
    }


def cmd_info(ctx: Context, args: argparse.Namespace) -> int:
    data = info_data(ctx)
    if args.format:
        from . import gotemplate
        ctx.out(gotemplate.render(args.format, data))
        return 0
    out = _out()
    ctx.out("Client:")
    ctx.out(f" Version:    {data['ServerVersion']}")
    ctx.out(" Context:    default")
    ctx.out("")
    ctx.out("Server:")
    ctx.out(f" Containers: {data['Containers']}")
    ctx.out(f"  Running: {data['ContainersRunning']}")
    ctx.out(f"  Paused: {data['ContainersPaused']}")
    ctx.out(f"  Stopped: {data['ContainersStopped']}")
    ctx.out(f" Images: {data['Images']}")
    ctx.out(f" Server Version: {data['ServerVersion']}")
    ctx.out(f" Storage Driver: {data['Driver']}")
    for k, v in data["DriverStatus"]:
        ctx.out(f"  {k}: {v}")
    ctx.out(f" Cgroup Driver: {data['CgroupDriver']}")
    ctx.out(f" Cgroup Version: {data['CgroupVersion']}")
    ctx.out(f" Default Runtime: {data['DefaultRuntime']}")
    ctx.out(f" Kernel Version: {data['KernelVersion']}")
    ctx.out(f" Operating System: {data['OperatingSystem']}")
    ctx.out(f" OSType: {data['OSType']}")
    ctx.out(f" Architecture: {data['Architecture']}")
    ctx.out(f" CPUs: {data['NCPU']}")
    ctx.out(f" Total Memory: {out.bytes_size(data['MemTotal'])}")
    ctx.out(f" Name: {data['Name']}")
    ctx.out(f" Docker Root Dir: {data['DockerRootDir']}")
    return 0


# --- inspect --------------------------------------------------------------------------------

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    add_format_option(p)
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes if the type is container")
    p.add_argument("--type", choices=("container", "image", "volume", "network"),
                   help="Return JSON for specified type")


def _lookup(ctx: Context, kind: str, name: str, size: bool) -> dict[str, Any]:
    eng = ctx.engine
    if kind == "image":
        return eng.images.inspect(name)
    if kind == "container":
        return eng.containers.inspect(name, size=size)
    if kind == "volume":
        return eng.volumes.inspect(name)
    return eng.networks.inspect(name)


def cmd_inspect(ctx: Context, args: argparse.Namespace) -> int:
    kinds = [args.type] if args.type else ["container", "image", "volume", "network"]
    objs, missing = [], []
    for name in args.names:
        for kind in kinds:
            try:
                objs.append(_lookup(ctx, kind, name, args.size))
                break
            except (NotFound, InvalidSpec, ImportError, ModuleNotFoundError, AttributeError):
                continue
        else:
            missing.append(name)
    _out().print_inspect(ctx, objs, args.format)
    for name in missing:
        what = f"{args.type}" if args.type else "object"
        ctx.err(f"Error: No such {what}: {name}")
    return 1 if missing else 0


COMMANDS = {
    "system df": Command("Show berth disk usage", _configure_df, cmd_df, "berth system df [OPTIONS]"),
    "system prune": Command("Remove unused data", _configure_prune, cmd_prune, "berth system prune [OPTIONS]"),
    "version": Command("Show the berth version information", _configure_version, cmd_version,
                       "berth version [OPTIONS]"),
    "info": Command("Display system-wide information", _configure_info, cmd_info, "berth info [OPTIONS]"),
    "inspect": Command("Return low-level information on berth objects", _configure_inspect, cmd_inspect,
                       "berth inspect [OPTIONS] NAME|ID [NAME|ID...]"),
}


