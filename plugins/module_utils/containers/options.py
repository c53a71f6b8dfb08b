"""Docker's flag syntaxes, parsed once for the CLI and the container module.

``-p [ip:][host:]ctr[/proto]`` with ranges, ``-v``, ``--mount`` CSV, ``--tmpfs``, ``--restart``,
``--env-file``, ``--security-opt``, ``--ulimit``, ``--add-host``, ``--label-file``. Each parser
raises InvalidSpec naming the flag and the value it could not read.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidSpec
from .spec import MOUNT_TYPES, PROPAGATIONS, MountSpec, PortBinding, RestartPolicy, Ulimit, check_security_opt

MAX_FILE = 1 << 20  # env, label and seccomp files are small; refuse a mistaken multi-GB path


def _bad(flag: str, value: str, why: str) -> InvalidSpec:
    return InvalidSpec(f"invalid argument {value!r} for {flag!r} flag: {why}", field=flag, value=value)


# --- sizes, durations, signals -------------------------------------------------------------

def parse_bytes(value: str | int, flag: str = "--memory") -> int:
    """Docker's RAMInBytes (units.py): binary units, ``512m``, ``1g``, ``1.5GiB``, a bare number
    of bytes; ``-1`` passes (unlimited swap)."""
    from .. import units

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value).strip()
    if s == "-1":
        return -1
    return units.parse_bytes(s, flag)


def parse_duration_ns(value: str | int, flag: str = "--health-interval") -> int:
    """Go's time.ParseDuration (units.py: ``1m30s``, ``500ms``) in nanoseconds; a bare 0 is allowed."""
    from .. import units

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value).strip()
    if s in ("0", ""):
        return 0
    ns = units.parse_duration_ns(s, flag)
    if ns < 0:
        raise _bad(flag, s, "a duration must not be negative")
    return ns


def parse_cpus(value: str | float) -> float:
    from .. import units

    cpus = units.parse_cpus(value, "--cpus") / 1e9
    ncpu = os.cpu_count() or 1
    if cpus > ncpu:
        raise InvalidSpec(f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs "
                          "available", field="cpus", value=cpus)
    return cpus


# --- ports ----------------------------------------------------------------------------------

def _port_range(text: str, flag: str, value: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise _bad(flag, value, f"invalid port {text!r}") from None
    if not (0 < a <= b < 65536):
        raise _bad(flag, value, f"invalid port range {text!r}")
    return a, b


def parse_publish(value: str) -> list[PortBinding]:
    """``-p``: ``80``, ``8080:80``, ``127.0.0.1:8080:80/udp``, ``[::1]::80``, ``8000-8001:80-81``."""
    flag = "--publish"
    text, _, proto = value.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise _bad(flag, value, f"invalid protocol {proto!r}")
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise _bad(flag, value, "unbalanced IPv6 address")
        host_ip, text = text[1:end], text[end + 2:]
    parts = text.split(":")
    if len(parts) == 3 and not host_ip:
        host_ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    elif len(parts) == 1:
        host, ctr = "", parts[0]
    else:
        raise _bad(flag, value, "expected [ip:][hostPort:]containerPort[/protocol]")
    if host_ip:
        import ipaddress
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise _bad(flag, value, f"invalid IP address {host_ip!r}") from None
    c_lo, c_hi = _port_range(ctr, flag, value)
    if not host:
        return [PortBinding(p, proto, host_ip, None) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host, flag, value)
    if h_hi - h_lo != c_hi - c_lo:
        raise _bad(flag, value, "host and container port ranges differ in size")
    return [PortBinding(c, proto, host_ip, h) for c, h in zip(range(c_lo, c_hi + 1), range(h_lo, h_hi + 1), strict=True)]


def parse_expose(value: str) -> list[str]:
    text, _, proto = value.partition("/")
    proto = proto or "tcp"
    lo, hi = _port_range(text, "--expose", value)
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


# --- mounts ---------------------------------------------------------------------------------

_VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def parse_volume(value: str) -> MountSpec:
    """``-v``: ``/ctr`` (anonymous), ``name:/ctr[:opts]``, ``/host:/ctr[:ro,rshared,nocopy]``."""
    flag = "--volume"
    parts = value.split(":")
    if len(parts) == 1:
        return MountSpec("volume", parts[0])
    if len(parts) > 3:
        raise _bad(flag, value, "too many colons")
    source, target = parts[0], parts[1]
    opts = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o]
    read_only, propagation, no_copy = False, "", False
    for o in opts:
        if o in ("ro", "rw"):
            read_only = o == "ro"
        elif o in PROPAGATIONS:
            propagation = o
        elif o == "nocopy":
            no_copy = True
        elif o in ("z", "Z", "consistent", "cached", "delegated"):
            continue  # SELinux relabel and macOS hints: no meaning on this host
        else:
            raise _bad(flag, value, f"invalid mode {o!r}")
    if not source:
        raise _bad(flag, value, "empty source")
    if source.startswith("/") or source.startswith("."):
        if no_copy:
            raise _bad(flag, value, "nocopy applies to volumes only")
        return MountSpec("bind", target, os.path.abspath(source), read_only, propagation)
    if not _VOLUME_NAME_RE.match(source):
        raise InvalidSpec(f"{source!r} includes invalid characters for a local volume name, only "
                          "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed. If you intended to pass a host directory, "
                          "use absolute path", field=flag, value=value)
    if propagation:
        raise _bad(flag, value, "propagation applies to bind mounts only")
    return MountSpec("volume", target, source, read_only, no_copy=no_copy)


def _bool_opt(flag: str, value: str, key: str, text: str | None) -> bool:
    if text is None or text.lower() in ("1", "true"):
        return True
    if text.lower() in ("0", "false"):
        return False
    raise _bad(flag, value, f"invalid value for {key}: {text!r}")


def parse_mount(value: str) -> MountSpec:
    """``--mount type=bind,source=/a,target=/b,readonly`` (CSV, quotes allowed)."""
    import csv

    flag = "--mount"
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise _bad(flag, value, "not a comma-separated list of key=value") from None
    kw: dict[str, Any] = {"type": "volume", "target": "", "source": "", "read_only": False}
    opts: list[str] = []
    for f in fields:
        key, sep, val = f.partition("=")
        key = key.strip().lower()
        v: str | None = val if sep else None
        if key == "type":
            if v not in MOUNT_TYPES:
                raise _bad(flag, value, f"invalid mount type {v!r}")
            kw["type"] = v
        elif key in ("source", "src"):
            kw["source"] = v or ""
        elif key in ("target", "destination", "dst"):
            kw["target"] = v or ""
        elif key in ("readonly", "ro"):
            kw["read_only"] = _bool_opt(flag, value, key, v)
        elif key == "bind-propagation":
            kw["propagation"] = v or ""
        elif key == "volume-nocopy":
            kw["no_copy"] = _bool_opt(flag, value, key, v)
        elif key == "tmpfs-size":
            kw["tmpfs_size"] = parse_bytes(v or "", flag)
        elif key == "tmpfs-mode":
            try:
                kw["tmpfs_mode"] = int(v or "", 8)
            except ValueError:
                raise _bad(flag, value, f"invalid tmpfs-mode {v!r}") from None
        elif key in ("consistency", "volume-driver", "volume-label", "volume-opt", "bind-nonrecursive"):
            opts.append(f)
        else:
            raise _bad(flag, value, f"unexpected key {key!r}")
    if not kw["target"]:
        raise InvalidSpec("invalid argument for --mount: target is required", field=flag, value=value)
    if kw["type"] == "bind" and not kw["source"]:
        raise InvalidSpec("invalid argument for --mount: source is required for a bind mount", field=flag,
                          value=value)
    if kw["type"] == "tmpfs" and kw["source"]:
        raise _bad(flag, value, "tmpfs mounts take no source")
    if kw["type"] == "bind":
        kw["source"] = os.path.abspath(kw["source"])
    return MountSpec(options=tuple(opts), **kw)


def parse_tmpfs(value: str) -> tuple[str, str]:
    """``--tmpfs /run:rw,size=64m`` -> (path, options)."""
    path, _, opts = value.partition(":")
    if not path.startswith("/"):
        raise _bad("--tmpfs", value, "the mount point must be an absolute path")
    for o in filter(None, opts.split(",")):
        k, sep, v = o.partition("=")
        if k == "size" and sep:
            parse_bytes(v, "--tmpfs")
        elif k == "mode" and sep and not re.match(r"^[0-7]{1,4}$", v):
            raise _bad("--tmpfs", value, f"invalid mode {v!r}")
    return path, opts


# --- policies and process options --------------------------------------------------------

def parse_restart(value: str) -> RestartPolicy:
    name, sep, count = (value or "no").partition(":")
    if not sep:
        return RestartPolicy(name)
    try:
        n = int(count)
    except ValueError:
        raise InvalidSpec(f"invalid restart policy: maximum retry count must be an integer: {count!r}",
                          field="restart_policy", value=value) from None
    return RestartPolicy(name, n)


def parse_env(values: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """``-e KEY=v`` as is; ``-e KEY`` takes the caller's value, and is dropped when it has none."""
    environ = os.environ if environ is None else environ
    out = []
    for v in values:
        key, sep, _ = v.partition("=")
        if not key:
            raise _bad("--env", v, "variable name is empty")
        if sep:
            out.append(v)
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out


def _read_small(path: str, flag: str) -> str:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise InvalidSpec(f"{flag}: cannot read {path}: {exc.strerror}", field=flag, value=path) from None
    if len(data) > MAX_FILE:
        raise InvalidSpec(f"{flag}: {path} is larger than {MAX_FILE} bytes", field=flag, value=path)
    return data.decode("utf-8", "replace")


def _key_value_lines(text: str, flag: str, path: str) -> list[str]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise InvalidSpec(f"{flag}: {path}:{n}: no variable name", field=flag, value=raw)
        if re.search(r"\s", key):
            raise InvalidSpec(f"variable '{key}' contains whitespaces", field=flag, value=raw)
        out.append(f"{key}={value}" if sep else key)
    return out


def parse_env_file(path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    return parse_env(_key_value_lines(_read_small(path, "--env-file"), "--env-file", path), environ)


def parse_label_file(path: str) -> list[str]:
    return _key_value_lines(_read_small(path, "--label-file"), "--label-file", path)


def parse_labels(values: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, _, val = v.partition("=")
        if not key:
            raise _bad("--label", v, "empty label name")
        out[key] = val
    return out


def parse_security_opt(value: str) -> str:
    """Validate; ``seccomp=FILE`` is read now and kept as its JSON text, as docker's client does."""
    check_security_opt(value)
    key, sep, val = value.partition("=")
    if key == "seccomp" and sep and val not in ("unconfined", "") and not val.lstrip().startswith("{"):
        import json
        text = _read_small(val, "--security-opt")
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidSpec(f"--security-opt: {val} is not a JSON seccomp profile: {exc}",
                              field="security_opt", value=val) from None
        return f"seccomp={text}"
    return value


_ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
            "rss", "rtprio", "rttime", "sigpending", "stack", "as")


def parse_ulimit(value: str) -> Ulimit:
    """``--ulimit nofile=1024:2048`` (one number sets both)."""
    name, sep, limits = value.partition("=")
    if not sep or name not in _ULIMITS:
        raise _bad("--ulimit", value, f"expected NAME=SOFT[:HARD] with NAME one of {', '.join(_ULIMITS)}")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise _bad("--ulimit", value, "limits must be integers") from None
    return Ulimit(name, soft, hard)


def parse_add_host(value: str) -> str:
    """``--add-host name:ip`` (or ``name=ip``) -> ``name:ip``; ``host-gateway`` is resolved later."""
    if "=" in value:
        name, _, ip = value.partition("=")
    else:
        name, _, ip = value.partition(":")
    ip = ip.strip("[]")
    if not name or not ip:
        raise _bad("--add-host", value, "expected HOST:IP")
    if ip != "host-gateway":
        import ipaddress
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidSpec(f"invalid IP address in add-host: {ip!r}", field="extra_hosts", value=value) from None
    return f"{name}:{ip}"


def parse_sysctl(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise _bad("--sysctl", value, "expected KEY=VALUE")
    namespaced = ("kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue.", "net.")
    if not key.startswith(namespaced) or key in ("net.core.rmem_max",):
        raise InvalidSpec(f"sysctl {key!r} is not allowed: only IPC and network namespaced sysctls are "
                          "accepted", field="sysctls", value=key)
    return key, val


def parse_log_opts(values: Iterable[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            raise _bad("--log-opt", v, "expected KEY=VALUE")
        if key == "max-size":
            parse_bytes(val, "--log-opt")
        elif key == "max-file" and not val.isdigit():
            raise _bad("--log-opt", v, "max-file must be a number")
        out[key] = val
    return out

