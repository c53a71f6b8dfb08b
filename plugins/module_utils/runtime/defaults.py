"""Docker's security defaults for a container, as OCI runtime-spec fragments.

The container service writes these into the spec; the launcher enforces them. Sources: moby's
oci/defaults.go and daemon/oci_linux.go (Docker 25-28) and runc's libcontainer defaults, which
Docker relies on and which berth, having no runc, has to supply itself.

- masked paths: a path under /proc or /sys that leaks host state is hidden (a file under
  /dev/null, a directory under an empty read-only tmpfs); read-only paths are remounted ro;
- /dev holds only null, zero, full, random, urandom and tty (0666, root), the console when a
  terminal is asked for (the launcher bind-mounts the pty there, as runc does), a private devpts
  with ptmx linked to pts/ptmx, a tmpfs on /dev/shm, mqueue, and the fd/stdin/stdout/stderr links;
- the devices cgroup denies everything but those devices and mknod (creating a node is harmless
  when opening it is denied); /dev/fuse is denied explicitly, as Docker does;
- rlimits: Docker sets none by default, so a container inherits the limits of the process that
  starts it (dockerd's; here berth's monitor). ``DEFAULT_RLIMITS`` is therefore empty and
  ``--ulimit`` values go to ``process.rlimits``; podman, by contrast, writes nofile and nproc;
- ``--privileged`` lifts all of this: every capability, no masks, no seccomp, every host device,
  devices cgroup "a *:* rwm", /sys and the cgroup mount read-write.
"""
from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSpec
from . import caps as capsmod

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# name, major, minor: the devices every container gets (runtime-spec "default devices")
DEFAULT_DEVICES: tuple[tuple[str, int, int], ...] = (
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
)
# link, target
DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"), ("/dev/ptmx", "pts/ptmx"),
)
DEFAULT_RLIMITS: tuple[dict[str, Any], ...] = ()
SHM_SIZE = 64 * 1024 * 1024
# directories of the host's /dev that are not devices to hand to a privileged container
_HOST_DEV_SKIP = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def masked_paths(sysfs: str = "/sys") -> list[str]:
    """Docker's masked paths, plus each CPU's thermal_throttle folder that this host has
    (Docker 28 masks those: they let a container read and reset host-wide counters)."""
    extra = sorted(p.replace(sysfs, "/sys", 1)
                   for p in glob.glob(os.path.join(sysfs, "devices/system/cpu/cpu[0-9]*/thermal_throttle")))
    return list(MASKED_PATHS) + extra


def readonly_paths() -> list[str]:
    return list(READONLY_PATHS)


def _device(path: str, typ: str, major: int, minor: int, mode: int = 0o666) -> dict[str, Any]:
    return {"path": path, "type": typ, "major": major, "minor": minor, "fileMode": mode, "uid": 0, "gid": 0}


def default_devices() -> list[dict[str, Any]]:
    """``linux.devices`` entries for the default devices (mode 0666, owned by root)."""
    return [_device(f"/dev/{name}", "c", major, minor) for name, major, minor in DEFAULT_DEVICES]


def console_device() -> dict[str, Any]:
    """/dev/console for a container with a terminal: the launcher bind-mounts the pty slave
    over a placeholder file here; the numbers are those of the console device (5:1)."""
    return _device("/dev/console", "c", 5, 1, 0o620)


def default_mounts(privileged: bool = False, shm_size: int = SHM_SIZE,
                   writable_cgroups: bool = False) -> list[dict[str, Any]]:
    """Docker's default mounts: /proc, a tmpfs /dev, devpts, /sys (ro), cgroup (ro), mqueue, shm."""
    ro = [] if privileged else ["ro"]
    cg_ro = [] if privileged or writable_cgroups else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"] + ro},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + cg_ro},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def _rule(allow: bool, typ: str = "a", major: int | None = None, minor: int | None = None,
          access: str = "rwm") -> dict[str, Any]:
    r: dict[str, Any] = {"allow": allow, "type": typ, "access": access}
    if major is not None:
        r["major"] = major
    if minor is not None:
        r["minor"] = minor
    return r


def default_device_rules() -> list[dict[str, Any]]:
    """``linux.resources.devices``: Docker's list followed by the rules runc appends to it."""
    rules = [_rule(False)]
    rules += [_rule(True, "c", major, minor) for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))]
    rules.append(_rule(False, "c", 10, 229))           # /dev/fuse
    rules += [_rule(True, "c", access="m"), _rule(True, "b", access="m")]
    rules += [_rule(True, "c", major, minor) for _name, major, minor in DEFAULT_DEVICES]
    rules += [_rule(True, "c", 136), _rule(True, "c", 5, 2)]   # pts/*, ptmx
    return rules


def host_devices(dev: str = "/dev") -> list[dict[str, Any]]:
    """Every character and block device of the host (for --privileged), as linux.devices entries."""
    out: list[dict[str, Any]] = []
    for root, dirs, files in os.walk(dev):
        dirs[:] = [d for d in dirs if not (root == dev and d in _HOST_DEV_SKIP)]
        for name in sorted(files):
            path = os.path.join(root, name)
            if path == os.path.join(dev, "console"):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append({"path": "/dev/" + os.path.relpath(path, dev),
                            "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


@dataclass(frozen=True)
class SecurityOpts:
    """``--security-opt`` values, parsed."""

    no_new_privileges: bool = False
    seccomp: str = "default"              # "default" | "unconfined" | a path or JSON text
    systempaths_unconfined: bool = False  # no masked or read-only paths
    writable_cgroups: bool = False
    apparmor: str | None = None           # accepted for compatibility; berth has no AppArmor support
    labels: tuple[str, ...] = ()          # idem for SELinux labels

    def to_dict(self) -> dict[str, Any]:
        return {"no_new_privileges": self.no_new_privileges, "seccomp": self.seccomp,
                "systempaths_unconfined": self.systempaths_unconfined,
                "writable_cgroups": self.writable_cgroups, "apparmor": self.apparmor,
                "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SecurityOpts:
        return cls(bool(d.get("no_new_privileges")), d.get("seccomp") or "default",
                   bool(d.get("systempaths_unconfined")), bool(d.get("writable_cgroups")),
                   d.get("apparmor"), tuple(d.get("labels") or ()))


def _bool(key: str, value: str, opt: str) -> bool:
    v = value.lower()
    if v in ("", "true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise InvalidSpec(f"--security-opt: invalid value for {key}: {opt!r}", field="security_opt", value=opt)


def parse_security_opts(opts: list[str] | tuple[str, ...] | None) -> SecurityOpts:
    """Docker's ``--security-opt`` forms: key=value, the legacy key:value, and bare flags."""
    values: dict[str, Any] = {"labels": []}
    for opt in opts or ():
        if not isinstance(opt, str) or not opt:
            raise InvalidSpec(f"--security-opt: invalid option {opt!r}", field="security_opt", value=opt)
        if opt == "no-new-privileges":
            key, value = opt, ""
        elif "=" in opt:
            key, value = opt.split("=", 1)
        elif ":" in opt:
            key, value = opt.split(":", 1)
        else:
            raise InvalidSpec(f"--security-opt: invalid option {opt!r} (expected key=value)",
                              field="security_opt", value=opt)
        if key == "no-new-privileges":
            values["no_new_privileges"] = _bool(key, value, opt)
        elif key == "seccomp":
            if not value:
                raise InvalidSpec("--security-opt: seccomp needs a value (unconfined, builtin or a profile file)",
                                  field="security_opt", value=opt)
            values["seccomp"] = "default" if value in ("builtin", "default") else value
        elif key == "systempaths":
            if value != "unconfined":
                raise InvalidSpec(f"--security-opt: systempaths takes only 'unconfined', got {value!r}",
                                  field="security_opt", value=opt)
            values["systempaths_unconfined"] = True
        elif key == "writable-cgroups":
            values["writable_cgroups"] = _bool(key, value, opt)
        elif key == "apparmor":
            values["apparmor"] = value
        elif key == "label":
            values["labels"].append(value)
        else:
            raise InvalidSpec(f"--security-opt: unknown option {key!r}", field="security_opt", value=opt)
    values["labels"] = tuple(values["labels"])
    return SecurityOpts(**values)


def security_spec(privileged: bool = False, cap_add: list[str] | None = None,
                  cap_drop: list[str] | None = None, security_opt: list[str] | None = None,
                  tty: bool = False, arch: str | None = None) -> dict[str, Any]:
    """The security fragments of a container's OCI spec, from Docker's flags.

    Returns ``{"process": {"capabilities", "noNewPrivileges"}, "linux": {"maskedPaths",
    "readonlyPaths", "devices", "resources": {"devices"}, and "seccomp" unless unconfined},
    "mounts": [...]}`` for the caller to merge into its spec. A bad flag raises InvalidSpec
    naming it, before anything is created.
    """
    opts = parse_security_opts(security_opt)
    caps = capsmod.resolve(cap_add, cap_drop, privileged)
    linux: dict[str, Any] = {}
    if privileged or opts.systempaths_unconfined:
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
    else:
        linux["maskedPaths"], linux["readonlyPaths"] = masked_paths(), readonly_paths()
    devices = default_devices()
    if tty:
        devices.append(console_device())
    if privileged:
        known = {d["path"] for d in devices}
        devices += [d for d in host_devices() if d["path"] not in known]
        linux["resources"] = {"devices": [_rule(True)]}
    else:
        linux["resources"] = {"devices": default_device_rules()}
    linux["devices"] = devices
    if not privileged and opts.seccomp != "unconfined":
        from . import seccomp
        if opts.seccomp == "default":
            linux["seccomp"] = seccomp.default_profile(caps, arch)
        else:
            linux["seccomp"] = seccomp.load_docker_profile(opts.seccomp, caps, arch)
    return {
        "process": {"capabilities": capsmod.oci_capabilities(caps), "noNewPrivileges": opts.no_new_privileges},
        "linux": linux,
        "mounts": default_mounts(privileged, writable_cgroups=opts.writable_cgroups),
    }
