"""Reading a container's usage back from its cgroup, shaped for `docker stats`.

Best effort by design: a file that this kernel or layout lacks gives None (or an empty list),
never an error, because stats are shown for whatever the host can measure. Values are raw
counters; the CPU percentage is computed by the caller from two samples, as Docker does:

    cpu% = (cpu.total_usage delta / system_cpu_usage delta) * online_cpus * 100

Memory usage is reported as Docker's CLI computes it (usage minus inactive_file, i.e. without
the page cache that the kernel would drop first), with the raw figure beside it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .cgroup import Cgroup

_NS = 1_000_000_000


def read_text(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    out: dict[str, int] = {}
    for line in (read_text(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def system_cpu_usage(proc_stat: str = "/proc/stat") -> int:
    """Host CPU time in ns: the first seven fields of /proc/stat's "cpu" line, as Docker sums them."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(proc_stat) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "cpu":
                return sum(int(v) for v in parts[1:8]) * _NS // ticks
    return 0


def _host_memory() -> int | None:
    for line in (read_text(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def _cpu(cg: Cgroup) -> dict[str, Any]:
    out: dict[str, Any] = {"total_usage": None, "percpu_usage": None, "usage_in_usermode": None,
                           "usage_in_kernelmode": None, "throttling": {}}
    acct = cg.dir_for("cpuacct")
    if acct is not None:
        out["total_usage"] = read_int(acct / "cpuacct.usage")
        percpu = (read_text(acct / "cpuacct.usage_percpu") or "").split()
        out["percpu_usage"] = [int(v) for v in percpu] or None
        st = read_keyed(acct / "cpuacct.stat")
        ticks = os.sysconf("SC_CLK_TCK")
        if "user" in st:
            out["usage_in_usermode"] = st["user"] * _NS // ticks
        if "system" in st:
            out["usage_in_kernelmode"] = st["system"] * _NS // ticks
    elif cg.v2_dir is not None:
        # cpu.stat's usage lines are core cgroup2 files: present without the cpu controller
        st = read_keyed(cg.v2_dir / "cpu.stat")
        if "usage_usec" in st:
            out["total_usage"] = st["usage_usec"] * 1000
            out["usage_in_usermode"] = st.get("user_usec", 0) * 1000
            out["usage_in_kernelmode"] = st.get("system_usec", 0) * 1000
    cpu_dir = cg.dir_for("cpu")
    if cpu_dir is not None:
        st = read_keyed(cpu_dir / "cpu.stat")
        if "nr_periods" in st:
            throttled = st.get("throttled_time")
            if throttled is None and "throttled_usec" in st:
                throttled = st["throttled_usec"] * 1000
            out["throttling"] = {"periods": st["nr_periods"], "throttled_periods": st.get("nr_throttled", 0),
                                 "throttled_time": throttled or 0}
    return out


def _memory(cg: Cgroup) -> dict[str, Any]:
    out: dict[str, Any] = {"usage": None, "raw_usage": None, "cache": None, "limit": None,
                           "max_usage": None, "failcnt": None, "stats": {}}
    d = cg.dir_for("memory")
    if d is None:
        return out
    if cg.version_of("memory") == 1:
        usage = read_int(d / "memory.usage_in_bytes")
        limit = read_int(d / "memory.limit_in_bytes")
        out["max_usage"] = read_int(d / "memory.max_usage_in_bytes")
        out["failcnt"] = read_int(d / "memory.failcnt")
        stats = read_keyed(d / "memory.stat")
        cache = stats.get("total_inactive_file")
    else:
        usage = read_int(d / "memory.current")
        limit = read_int(d / "memory.max")
        out["max_usage"] = read_int(d / "memory.peak")
        stats = read_keyed(d / "memory.stat")
        cache = stats.get("inactive_file")
    host = _host_memory()
    # an unlimited cgroup reports a huge number (v1) or "max" (v2): show the host's memory
    if host and (limit is None or limit > host):
        limit = host
    out.update(raw_usage=usage, limit=limit, cache=cache, stats=stats)
    if usage is not None:
        out["usage"] = usage - cache if cache is not None and cache < usage else usage
    return out


def _pids(cg: Cgroup) -> dict[str, Any]:
    d = cg.dir_for("pids")
    if d is None:
        return {"current": len(cg.procs()), "limit": None}
    current = read_int(d / "pids.current")
    return {"current": current if current is not None else len(cg.procs()),
            "limit": read_int(d / "pids.max")}


def _blkio(cg: Cgroup) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    d = cg.dir_for("blkio")
    if d is not None:
        text = None
        for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive",
                     "blkio.bfq.io_service_bytes_recursive"):
            text = read_text(d / name)
            if text:
                break
        for line in (text or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    else:
        d = cg.dir_for("io")
        io_stat = read_text(d / "io.stat") if d is not None else None
        for line in (io_stat or "").splitlines():
            parts = line.split()
            if not parts or ":" not in parts[0]:
                continue
            major, minor = parts[0].split(":")
            kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            for key, op in (("rbytes", "read"), ("wbytes", "write")):
                if key in kv:
                    entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])})
    read = sum(e["value"] for e in entries if e["op"].lower() == "read")
    write = sum(e["value"] for e in entries if e["op"].lower() == "write")
    return {"io_service_bytes_recursive": entries, "read_bytes": read, "write_bytes": write}


def collect(cg: Cgroup) -> dict[str, Any]:
    """One sample of every figure `docker stats` shows, for one cgroup."""
    return {
        "cpu": _cpu(cg),
        "system_cpu_usage": system_cpu_usage(),
        "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN"),
        "memory": _memory(cg),
        "pids": _pids(cg),
        "blkio": _blkio(cg),
        "oom_kills": cg.oom_kill_count(),
    }
