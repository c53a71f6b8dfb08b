"""ContainerSpec + the image's config + resolved mounts -> an OCI runtime spec (pure).

Docker's semantics live here so that they can be tested without a kernel: ENTRYPOINT and CMD
(``--entrypoint`` resets the image's CMD, arguments replace it), the environment merge (a
default PATH, HOSTNAME, TERM with a tty, the image's ENV, then the user's; HOME from passwd),
the working directory, the default mounts and namespaces, and linux.resources. Security
defaults (capabilities, seccomp, masked paths, devices) come from runtime/caps, seccomp and
defaults, which own Docker's lists.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidSpec
from ..types import Mount
from .spec import ContainerSpec
from .userdb import ExecUser

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHM_SIZE = 64 << 20
CPU_PERIOD = 100_000
ETC_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")
RLIMITS = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
           "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
           "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
           "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
           "stack": "RLIMIT_STACK", "as": "RLIMIT_AS"}


@dataclass(frozen=True)
class SpecInputs:
    """What the container service resolved before the spec can be written."""

    cid: str
    rootfs: str
    user: ExecUser = field(default_factory=lambda: ExecUser(0, 0))
    hostname: str = ""
    files: Mapping[str, str] = field(default_factory=dict)   # /etc/hosts... -> engine-written file
    mounts: tuple[Mount, ...] = ()          # resolved binds and volumes; Mount.target = destination
    netns: str | None = None                # a netns to join (bridge networks); None: a new one
    cgroups_path: str = ""
    cgroupns: bool = False


# --- the process ----------------------------------------------------------------------------

def _list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # a shell-form string stored by an older writer
        return ["/bin/sh", "-c", value]
    return [str(v) for v in value]


def process_args(spec: ContainerSpec, image_config: Mapping[str, Any]) -> list[str]:
    """ENTRYPOINT + CMD with Docker's override rules; the first element is the Path."""
    image_ep = _list(image_config.get("Entrypoint")) or []
    image_cmd = _list(image_config.get("Cmd")) or []
    if spec.entrypoint is not None:
        # `--entrypoint ""` clears the image's entrypoint; any --entrypoint also drops its CMD.
        entry = [a for a in spec.entrypoint] if spec.entrypoint not in ((), ("",)) else []
        cmd = list(spec.command) if spec.command is not None else []
    else:
        entry = image_ep
        cmd = list(spec.command) if spec.command is not None else image_cmd
    args = entry + cmd
    if not args:
        raise InvalidSpec("No command specified", field="command", value=None)
    return args


def env_dict(items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def merge_env(*layers: Iterable[str]) -> list[str]:
    """Later layers replace earlier values in place; new keys are appended (Docker's order)."""
    merged: dict[str, str] = {}
    for layer in layers:
        for item in layer:
            k, sep, v = item.partition("=")
            if not sep:
                continue
            merged[k] = v
    return [f"{k}={v}" for k, v in merged.items()]


def config_env(spec: ContainerSpec, image_config: Mapping[str, Any]) -> list[str]:
    """Config.Env as Docker shows it in inspect: the image's ENV merged with the user's."""
    image_env = list(image_config.get("Env") or [])
    if not any(e.startswith("PATH=") for e in image_env) and not any(e.startswith("PATH=") for e in spec.env):
        image_env.insert(0, f"PATH={DEFAULT_PATH}")
    return merge_env(image_env, spec.env)


def process_env(spec: ContainerSpec, image_config: Mapping[str, Any], hostname: str, home: str) -> list[str]:
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if spec.tty:
        base.append("TERM=xterm")
    env = merge_env(base, config_env(spec, image_config))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home or '/'}")
    return env


def working_dir(spec: ContainerSpec, image_config: Mapping[str, Any]) -> str:
    return spec.working_dir or image_config.get("WorkingDir") or "/"


def stop_signal(spec: ContainerSpec, image_config: Mapping[str, Any]) -> str:
    sig = spec.stop_signal or image_config.get("StopSignal") or "SIGTERM"
    sig = str(sig).upper()
    if not sig.isdigit() and not sig.startswith("SIG"):
        sig = "SIG" + sig
    return sig


def effective_user(spec: ContainerSpec, image_config: Mapping[str, Any]) -> str:
    return spec.user if spec.user is not None else (image_config.get("User") or "")


# --- mounts ---------------------------------------------------------------------------------

def default_mounts(spec: ContainerSpec, privileged: bool) -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + ([] if privileged else ["ro"])},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={SHM_SIZE}"]},
    ]
    return mounts


def _tmpfs_mount(dest: str, opts: str) -> dict[str, Any]:
    options = ["nosuid", "nodev", "noexec"]
    for o in filter(None, opts.split(",")):
        if o in ("exec", "suid", "dev"):
            options = [x for x in options if x != "no" + o]
        elif o not in options:
            options.append(o)
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}


def user_mount(m: Mount) -> dict[str, Any]:
    if m.type == "bind":
        opts = list(m.options)
        if not any(o in ("bind", "rbind") for o in opts):
            opts.insert(0, "rbind")
        if not any(o.endswith(("private", "shared", "slave")) for o in opts):
            opts.append("rprivate")
        return {"destination": m.target, "type": "bind", "source": m.source, "options": opts}
    return {"destination": m.target, "type": m.type, "source": m.source, "options": list(m.options)}


def build_mounts(spec: ContainerSpec, inputs: SpecInputs,
                 defaults: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Defaults, then engine-written /etc files, tmpfs and user mounts; a later one at the same
    destination replaces an earlier one, and parents are mounted before their children."""
    by_dest: dict[str, dict[str, Any]] = {}
    for m in defaults if defaults is not None else default_mounts(spec, spec.privileged):
        by_dest[m["destination"]] = m
    user_dests = {m.target.rstrip("/") for m in inputs.mounts} | set(spec.tmpfs)
    for dest, host in inputs.files.items():
        if dest not in user_dests:
            by_dest[dest] = {"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rprivate"]}
    for dest, opts in spec.tmpfs.items():
        by_dest[dest.rstrip("/") or "/"] = _tmpfs_mount(dest, opts)
    for m in inputs.mounts:
        by_dest[m.target.rstrip("/")] = user_mount(m)
    # A stable sort by depth keeps /dev before /dev/pts while holding the defaults' order.
    return sorted(by_dest.values(), key=lambda m: m["destination"].rstrip("/").count("/"))


# --- security ---------------------------------------------------------------------------------

# Podman's spellings that the spec accepts but Docker's defaults do not know: no effect here.
_IGNORED_SECURITY_KEYS = ("mask", "unmask")


def _security(spec: ContainerSpec) -> dict[str, Any]:
    """Docker's security defaults from runtime/defaults.py (which owns the lists): capabilities,
    no_new_privs, seccomp, masked and read-only paths, default devices and device rules."""
    from ..runtime import defaults

    opts = [o for o in spec.security_opt
            if o.partition("=")[0].partition(":")[0] not in _IGNORED_SECURITY_KEYS]
    frag = defaults.security_spec(spec.privileged, list(spec.cap_add), list(spec.cap_drop), opts, spec.tty)
    linux = frag["linux"]
    return {"capabilities": frag["process"]["capabilities"],
            "noNewPrivileges": bool(frag["process"]["noNewPrivileges"]),
            "seccomp": linux.get("seccomp"),
            "maskedPaths": linux["maskedPaths"], "readonlyPaths": linux["readonlyPaths"],
            "devices": linux["devices"], "deviceCgroup": linux["resources"]["devices"],
            "mounts": frag["mounts"]}


# --- resources ------------------------------------------------------------------------------

def host_config_resources(spec: ContainerSpec) -> dict[str, Any]:
    """The Docker HostConfig resource fields of the spec (what the cgroups package converts)."""
    r = spec.resources
    hc: dict[str, Any] = {"Memory": r.memory or 0, "MemorySwap": r.memory_swap or 0,
                          "MemoryReservation": r.memory_reservation or 0, "NanoCpus": r.nano_cpus,
                          "CpuShares": r.cpu_shares or 0, "OomKillDisable": r.oom_kill_disable}
    if r.cpuset_cpus:
        hc["CpusetCpus"] = r.cpuset_cpus
    if r.pids_limit is not None:
        hc["PidsLimit"] = r.pids_limit
    return hc


def oci_resources(spec: ContainerSpec, swap_accounting: bool | None = None) -> dict[str, Any]:
    """linux.resources with Docker's rules (runtime/cgroups): swap defaults to twice the memory
    where the kernel accounts swap and is left out where it does not, so a plain --memory
    works on hosts without swap accounting."""
    from ..runtime.cgroups import docker_resources

    return docker_resources(host_config_resources(spec), swap_accounting=swap_accounting)


def rlimits(spec: ContainerSpec) -> list[dict[str, Any]]:
    return [{"type": RLIMITS[u.name], "soft": u.soft, "hard": u.hard} for u in spec.ulimits]


def namespaces(spec: ContainerSpec, inputs: SpecInputs) -> list[dict[str, Any]]:
    ns: list[dict[str, Any]] = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if spec.network_mode != "host":
        net: dict[str, Any] = {"type": "network"}
        if inputs.netns:
            net["path"] = inputs.netns
        ns.append(net)
    if inputs.cgroupns:
        ns.append({"type": "cgroup"})
    return ns


# --- the whole spec ---------------------------------------------------------------------------

def build_runtime_spec(spec: ContainerSpec, image_config: Mapping[str, Any], inputs: SpecInputs,
                       security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The OCI runtime spec (config.json of runtime-spec 1.x) for one start of the container."""
    sec = dict(security) if security is not None else _security(spec)
    args = process_args(spec, image_config)
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": inputs.user.to_oci(),
        "args": args,
        "env": process_env(spec, image_config, inputs.hostname, inputs.user.home),
        "cwd": working_dir(spec, image_config),
        "capabilities": sec["capabilities"],
        "noNewPrivileges": bool(sec.get("noNewPrivileges")),
    }
    rl = rlimits(spec)
    if rl:
        process["rlimits"] = rl
    if spec.tty:
        process["consoleSize"] = {"height": 24, "width": 80}
    resources = oci_resources(spec)
    if sec.get("deviceCgroup"):
        resources["devices"] = sec["deviceCgroup"]
    linux: dict[str, Any] = {
        "namespaces": namespaces(spec, inputs),
        "resources": resources,
        "cgroupsPath": inputs.cgroups_path,
        "maskedPaths": sec.get("maskedPaths", []),
        "readonlyPaths": sec.get("readonlyPaths", []),
        "devices": sec.get("devices", []),
    }
    if sec.get("seccomp"):
        linux["seccomp"] = sec["seccomp"]
    if spec.sysctls:
        linux["sysctl"] = dict(spec.sysctls)
    out: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": inputs.rootfs, "readonly": spec.read_only},
        "hostname": inputs.hostname,
        "mounts": build_mounts(spec, inputs, sec.get("mounts")),
        "linux": linux,
        "annotations": {"io.berth.container.id": inputs.cid},
    }
    if spec.domainname:
        out["domainname"] = spec.domainname
    if spec.privileged:
        out["annotations"]["io.berth.privileged"] = "true"
    return out


def run_options(spec: ContainerSpec, image_config: Mapping[str, Any], log_path: str,
                on_exit: list[str] | None = None, dns: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """RunOptions for the runtime (docs/design.md): log, restart policy, tty, stop, --init."""
    from ..runtime.health import run_config
    from .options import parse_bytes

    max_size = spec.log_opts.get("max-size")
    override = spec.healthcheck.to_docker() if spec.healthcheck is not None else None
    return {
        "log": {"path": log_path if spec.log_driver != "none" else None,
                "max_size": parse_bytes(max_size, "--log-opt") if max_size else None,
                "max_file": int(spec.log_opts.get("max-file", "1"))},
        "restart": {"name": spec.restart_policy.name, "max_retries": spec.restart_policy.max_retries},
        "tty": spec.tty,
        "open_stdin": spec.interactive,
        "stdin_once": spec.interactive,
        "stop_signal": stop_signal(spec, image_config),
        "stop_timeout": spec.effective_stop_timeout,
        "on_exit": on_exit,
        "dns": dict(dns) if dns else None,
        "init": spec.init,
        "health": run_config(image_config.get("Healthcheck"), override),
    }
