"""The pure half of cgroups: OCI ``linux.resources`` in, the files to write out.

``plan_v1`` and ``plan_v2`` give the writes for one cgroup version; ``plan(layout, resources)``
picks, section by section, the hierarchy that holds the controller on this host (so a hybrid
host gets its memory limits on v1 and nothing on an empty cgroup2), and names the option when
no hierarchy can honour it. Nothing here touches the filesystem: what a kernel lacks (a file
such as memory.memsw.limit_in_bytes without swap accounting) is found when writing, and
reported by the writer with the same option names.

Conversions follow runc/crun, so a container gets the same files under berth as under Docker:
cpu.shares -> cpu.weight by the log-quadratic mapping that runc 1.3.2 and crun 1.23 adopted
(1024 -> 100, 2 -> 1, 262144 -> 10000), blkio weight -> io.weight linearly, memory-swap as the
memory+swap total on v1 (memsw) and as swap-only (swap - memory) on v2, -1 as unlimited.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ...errors import InvalidSpec
from .layout import CgroupLayout


class Write(NamedTuple):
    version: int                                # 1 or 2
    controller: str                             # the controller whose hierarchy gets the file
    file: str
    value: str
    option: str                                 # the docker flag or spec field, for messages
    alternative: tuple[str, str] | None = None  # (file, value) to use when ``file`` is missing


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    # Device rules to enforce with an eBPF program on the cgroup2 directory (v2 has no
    # devices controller); None when devices are handled by v1 writes or not asked for.
    bpf_devices: list[dict[str, Any]] | None = None


MEMORY_OPTIONS = {"limit": "--memory", "reservation": "--memory-reservation", "swap": "--memory-swap",
                  "swappiness": "--memory-swappiness", "disableOOMKiller": "--oom-kill-disable",
                  "kernel": "--kernel-memory", "kernelTCP": "--kernel-memory-tcp"}
CPU_OPTIONS = {"shares": "--cpu-shares", "quota": "--cpu-quota", "period": "--cpu-period",
               "realtimeRuntime": "--cpu-rt-runtime", "realtimePeriod": "--cpu-rt-period",
               "cpus": "--cpuset-cpus", "mems": "--cpuset-mems", "burst": "linux.resources.cpu.burst",
               "idle": "linux.resources.cpu.idle"}
BLKIO_OPTIONS = {"weight": "--blkio-weight", "leafWeight": "linux.resources.blockIO.leafWeight",
                 "weightDevice": "--blkio-weight-device",
                 "throttleReadBpsDevice": "--device-read-bps", "throttleWriteBpsDevice": "--device-write-bps",
                 "throttleReadIOPSDevice": "--device-read-iops",
                 "throttleWriteIOPSDevice": "--device-write-iops"}

_CPUSET_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_PAGESIZE_RE = re.compile(r"^\d+[KMG]B$")
_UNIFIED_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_.]+$")


# --- conversions ------------------------------------------------------------------------

def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2..262144] -> v2 cpu.weight [1..10000]; 0 stays "unset"."""
    if shares == 0:
        return 0
    shares = min(max(shares, 2), 262144)
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return int(math.ceil(math.pow(10, exponent)))


def weight_to_shares(weight: int) -> int:
    """The inverse of ``shares_to_weight`` (rounded), for showing v2 weights as docker's shares."""
    if weight == 0:
        return 0
    weight = min(max(weight, 1), 10000)
    if weight == 1:
        return 2
    # ceil() maps the interval (w-1, w] to w: invert from its middle (geometric mean)
    c = math.log10(math.sqrt(weight * (weight - 1))) + 7.0 / 34.0
    lg = (-125 + math.sqrt(125 * 125 + 4 * 612 * c)) / 2
    return min(max(int(round(2 ** lg)), 2), 262144)


def blkio_to_io_weight(weight: int) -> int:
    """blkio weight [10..1000] -> io.weight [1..10000], linearly (runc's conversion)."""
    return 1 + (weight - 10) * 9999 // 990


# --- validation helpers -----------------------------------------------------------------

def _int(section: dict[str, Any], key: str, where: str, option: str | None = None) -> int | None:
    v = section.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidSpec(f"{option or where + '.' + key}: expected an integer, got {v!r}",
                          field=f"{where}.{key}", value=v)
    return v


def _at_least(value: int | None, low: int, option: str) -> None:
    if value is not None and value < low:
        raise InvalidSpec(f"{option}: invalid value {value}", field=option, value=value)


def _section(resources: dict[str, Any], key: str) -> dict[str, Any]:
    v = resources.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise InvalidSpec(f"linux.resources.{key} must be an object, got {v!r}",
                          field=f"linux.resources.{key}", value=v)
    return v


def _check_memory(mem: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    w = "linux.resources.memory"
    limit = _int(mem, "limit", w, "--memory")
    swap = _int(mem, "swap", w, "--memory-swap")
    reservation = _int(mem, "reservation", w, "--memory-reservation")
    for v, opt in ((limit, "--memory"), (swap, "--memory-swap"), (reservation, "--memory-reservation")):
        _at_least(v, -1, opt)
    if limit and limit > 0 and swap and swap > 0 and swap < limit:
        raise InvalidSpec(f"--memory-swap: the memory+swap limit ({swap}) must be at least the memory "
                          f"limit ({limit})", field="--memory-swap", value=swap)
    if limit and limit > 0 and reservation and reservation > limit:
        raise InvalidSpec(f"--memory-reservation: the reservation ({reservation}) must not exceed the "
                          f"memory limit ({limit})", field="--memory-reservation", value=reservation)
    if limit == -1 and not swap:
        swap = -1  # unlimited memory means unlimited memory+swap too, as runc does
    return limit, swap, reservation


def _devnum(d: Any, where: str) -> str:
    if not isinstance(d, dict):
        raise InvalidSpec(f"{where}: expected an object with major and minor, got {d!r}", field=where, value=d)
    major, minor = d.get("major"), d.get("minor")
    for v in (major, minor):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidSpec(f"{where}: invalid device number {major}:{minor}", field=where, value=d)
    return f"{major}:{minor}"


def _devlist(blk: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = blk.get(key) or []
    if not isinstance(v, list):
        raise InvalidSpec(f"{BLKIO_OPTIONS[key]}: expected a list, got {v!r}", field=key, value=v)
    return v


def _rate(d: dict[str, Any], option: str) -> int:
    r = d.get("rate")
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise InvalidSpec(f"{option}: invalid rate {r!r}", field=option, value=r)
    return r


def device_rule_string(rule: dict[str, Any]) -> tuple[bool, str]:
    """An OCI device cgroup rule -> (allow, "type major:minor access") as devices.allow takes it."""
    if not isinstance(rule, dict):
        raise InvalidSpec(f"--device-cgroup-rule: expected an object, got {rule!r}", field="devices", value=rule)
    allow = rule.get("allow")
    if not isinstance(allow, bool):
        raise InvalidSpec(f"--device-cgroup-rule: 'allow' must be true or false in {rule!r}",
                          field="devices", value=rule)
    typ = rule.get("type") or "a"
    if typ not in ("a", "b", "c"):
        raise InvalidSpec(f"--device-cgroup-rule: invalid device type {typ!r}", field="devices", value=rule)
    access = rule.get("access") or "rwm"
    if not isinstance(access, str) or not access or set(access) - set("rwm"):
        raise InvalidSpec(f"--device-cgroup-rule: invalid access {access!r} (use r, w and m)",
                          field="devices", value=rule)
    nums = []
    for key in ("major", "minor"):
        v = rule.get(key)
        if v is None or v == -1:
            nums.append("*")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidSpec(f"--device-cgroup-rule: invalid {key} {v!r}", field="devices", value=rule)
        else:
            nums.append(str(v))
    access = "".join(c for c in "rwm" if c in access)
    return allow, f"{typ} {nums[0]}:{nums[1]} {access}"


# --- sections: one function per section and version ----------------------------------------

def _v1num(v: int) -> str:
    return "-1" if v == -1 else str(v)


def _v2num(v: int) -> str:
    return "max" if v == -1 else str(v)


def _memory_v1(mem: dict[str, Any]) -> list[Write]:
    limit, swap, reservation = _check_memory(mem)
    out: list[Write] = []
    if limit:
        out.append(Write(1, "memory", "memory.limit_in_bytes", _v1num(limit), "--memory"))
    if swap:
        out.append(Write(1, "memory", "memory.memsw.limit_in_bytes", _v1num(swap), "--memory-swap"))
    if reservation:
        out.append(Write(1, "memory", "memory.soft_limit_in_bytes", _v1num(reservation), "--memory-reservation"))
    swappiness = _int(mem, "swappiness", "linux.resources.memory", "--memory-swappiness")
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise InvalidSpec(f"--memory-swappiness: {swappiness} is outside 0-100",
                              field="--memory-swappiness", value=swappiness)
        out.append(Write(1, "memory", "memory.swappiness", str(swappiness), "--memory-swappiness"))
    for key, fname in (("kernel", "memory.kmem.limit_in_bytes"), ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")):
        v = _int(mem, key, "linux.resources.memory", MEMORY_OPTIONS[key])
        if v:
            out.append(Write(1, "memory", fname, _v1num(v), MEMORY_OPTIONS[key]))
    disable = mem.get("disableOOMKiller")
    if disable is not None:
        if not isinstance(disable, bool):
            raise InvalidSpec(f"--oom-kill-disable: expected true or false, got {disable!r}",
                              field="--oom-kill-disable", value=disable)
        out.append(Write(1, "memory", "memory.oom_control", "1" if disable else "0", "--oom-kill-disable"))
    return out


def _memory_v2(mem: dict[str, Any]) -> list[Write]:
    limit, swap, reservation = _check_memory(mem)
    out: list[Write] = []
    if limit:
        out.append(Write(2, "memory", "memory.max", _v2num(limit), "--memory"))
    if swap:
        if swap == -1:
            value = "max"
        elif not limit or limit < 0:
            raise InvalidSpec("--memory-swap: on cgroup v2 a memory+swap limit needs a memory limit "
                              "(--memory) to derive the swap limit from", field="--memory-swap", value=swap)
        else:
            value = str(swap - limit)
        out.append(Write(2, "memory", "memory.swap.max", value, "--memory-swap"))
    if reservation:
        out.append(Write(2, "memory", "memory.low", _v2num(reservation), "--memory-reservation"))
    swappiness = _int(mem, "swappiness", "linux.resources.memory", "--memory-swappiness")
    if swappiness is not None and swappiness != -1:
        raise InvalidSpec("--memory-swappiness: cgroup v2 has no per-cgroup swappiness",
                          field="--memory-swappiness", value=swappiness)
    for key in ("kernel", "kernelTCP"):
        if _int(mem, key, "linux.resources.memory", MEMORY_OPTIONS[key]):
            raise InvalidSpec(f"{MEMORY_OPTIONS[key]}: cgroup v2 has no separate kernel memory limit",
                              field=MEMORY_OPTIONS[key], value=mem[key])
    if mem.get("disableOOMKiller") is True:
        raise InvalidSpec("--oom-kill-disable: cgroup v2 has no switch to disable the OOM killer",
                          field="--oom-kill-disable", value=True)
    return out


def _cpu_common(cpu: dict[str, Any]) -> dict[str, int | None]:
    w = "linux.resources.cpu"
    vals = {k: _int(cpu, k, w, CPU_OPTIONS[k]) for k in
            ("shares", "quota", "period", "burst", "idle", "realtimeRuntime", "realtimePeriod")}
    _at_least(vals["shares"], 0, "--cpu-shares")
    if vals["period"] is not None and vals["period"] != 0 and not 1000 <= vals["period"] <= 1000000:
        raise InvalidSpec("--cpu-period: the CFS period must be between 1ms (1000) and 1s (1000000)",
                          field="--cpu-period", value=vals["period"])
    q = vals["quota"]
    if q is not None and q not in (0, -1) and q < 1000:
        raise InvalidSpec("--cpu-quota: the CFS quota can not be less than 1ms (1000)",
                          field="--cpu-quota", value=q)
    _at_least(q, -1, "--cpu-quota")
    return vals


def _cpu_v1(cpu: dict[str, Any]) -> list[Write]:
    v = _cpu_common(cpu)
    out: list[Write] = []
    if v["shares"]:
        out.append(Write(1, "cpu", "cpu.shares", str(v["shares"]), "--cpu-shares"))
    if v["period"]:
        out.append(Write(1, "cpu", "cpu.cfs_period_us", str(v["period"]), "--cpu-period"))
    if v["quota"]:
        out.append(Write(1, "cpu", "cpu.cfs_quota_us", _v1num(v["quota"]), "--cpu-quota"))
    if v["burst"] is not None:
        out.append(Write(1, "cpu", "cpu.cfs_burst_us", str(v["burst"]), CPU_OPTIONS["burst"]))
    if v["idle"] is not None:
        out.append(Write(1, "cpu", "cpu.idle", str(v["idle"]), CPU_OPTIONS["idle"]))
    # the period first: the kernel checks a runtime against the period in force
    if v["realtimePeriod"]:
        out.append(Write(1, "cpu", "cpu.rt_period_us", str(v["realtimePeriod"]), "--cpu-rt-period"))
    if v["realtimeRuntime"]:
        out.append(Write(1, "cpu", "cpu.rt_runtime_us", _v1num(v["realtimeRuntime"]), "--cpu-rt-runtime"))
    return out


def _cpu_v2(cpu: dict[str, Any]) -> list[Write]:
    v = _cpu_common(cpu)
    out: list[Write] = []
    if v["shares"]:
        out.append(Write(2, "cpu", "cpu.weight", str(shares_to_weight(v["shares"])), "--cpu-shares"))
    if v["quota"] or v["period"]:
        quota = "max" if not v["quota"] or v["quota"] < 0 else str(v["quota"])
        value = f"{quota} {v['period']}" if v["period"] else quota
        out.append(Write(2, "cpu", "cpu.max", value, "--cpu-quota" if v["quota"] else "--cpu-period"))
    if v["burst"] is not None:
        out.append(Write(2, "cpu", "cpu.max.burst", str(v["burst"]), CPU_OPTIONS["burst"]))
    if v["idle"] is not None:
        out.append(Write(2, "cpu", "cpu.idle", str(v["idle"]), CPU_OPTIONS["idle"]))
    for key in ("realtimeRuntime", "realtimePeriod"):
        if v[key]:
            raise InvalidSpec(f"{CPU_OPTIONS[key]}: cgroup v2 has no realtime group scheduling controls",
                              field=CPU_OPTIONS[key], value=v[key])
    return out


def _cpuset(cpu: dict[str, Any], version: int) -> list[Write]:
    out: list[Write] = []
    for key, fname in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        v = cpu.get(key)
        if v in (None, ""):
            continue
        if not isinstance(v, str) or not _CPUSET_RE.match(v.replace(" ", "")):
            raise InvalidSpec(f"{CPU_OPTIONS[key]}: invalid value {v!r} (expected a list such as 0-2,4)",
                              field=CPU_OPTIONS[key], value=v)
        out.append(Write(version, "cpuset", fname, v.replace(" ", ""), CPU_OPTIONS[key]))
    return out


def _pids(pids: dict[str, Any], version: int) -> list[Write]:
    limit = _int(pids, "limit", "linux.resources.pids", "--pids-limit")
    if limit is None:
        return []
    # 0 and negative mean "no limit" for docker and runc alike; pids.max=0 would be unusable
    return [Write(version, "pids", "pids.max", str(limit) if limit > 0 else "max", "--pids-limit")]


def _blkio_weight(blk: dict[str, Any]) -> int | None:
    weight = _int(blk, "weight", "linux.resources.blockIO", "--blkio-weight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidSpec("--blkio-weight: the range of blkio weight is from 10 to 1000",
                          field="--blkio-weight", value=weight)
    return weight or None


def _blkio_v1(blk: dict[str, Any]) -> list[Write]:
    out: list[Write] = []
    weight = _blkio_weight(blk)
    if weight:
        # CFQ's blkio.weight is gone from recent kernels; BFQ offers the same knob
        out.append(Write(1, "blkio", "blkio.weight", str(weight), "--blkio-weight",
                         ("blkio.bfq.weight", str(weight))))
    leaf = _int(blk, "leafWeight", "linux.resources.blockIO")
    if leaf:
        out.append(Write(1, "blkio", "blkio.leaf_weight", str(leaf), BLKIO_OPTIONS["leafWeight"]))
    for d in _devlist(blk, "weightDevice"):
        dev = _devnum(d, "--blkio-weight-device")
        w = _int(d, "weight", "--blkio-weight-device")
        if w:
            line = f"{dev} {w}"
            out.append(Write(1, "blkio", "blkio.weight_device", line, "--blkio-weight-device",
                             ("blkio.bfq.weight_device", line)))
    for key, fname in (("throttleReadBpsDevice", "read_bps_device"), ("throttleWriteBpsDevice", "write_bps_device"),
                       ("throttleReadIOPSDevice", "read_iops_device"),
                       ("throttleWriteIOPSDevice", "write_iops_device")):
        for d in _devlist(blk, key):
            out.append(Write(1, "blkio", f"blkio.throttle.{fname}",
                             f"{_devnum(d, BLKIO_OPTIONS[key])} {_rate(d, BLKIO_OPTIONS[key])}", BLKIO_OPTIONS[key]))
    return out


def _blkio_v2(blk: dict[str, Any]) -> list[Write]:
    out: list[Write] = []
    weight = _blkio_weight(blk)
    if weight:
        out.append(Write(2, "io", "io.bfq.weight", str(weight), "--blkio-weight",
                         ("io.weight", f"default {blkio_to_io_weight(weight)}")))
    if _int(blk, "leafWeight", "linux.resources.blockIO"):
        raise InvalidSpec(f"{BLKIO_OPTIONS['leafWeight']}: cgroup v2 has no leaf weight",
                          field="leafWeight", value=blk["leafWeight"])
    for d in _devlist(blk, "weightDevice"):
        dev = _devnum(d, "--blkio-weight-device")
        w = _int(d, "weight", "--blkio-weight-device")
        if w:
            out.append(Write(2, "io", "io.bfq.weight", f"{dev} {w}", "--blkio-weight-device",
                             ("io.weight", f"{dev} {blkio_to_io_weight(w)}")))
    for key, field_name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                            ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for d in _devlist(blk, key):
            rate = _rate(d, BLKIO_OPTIONS[key])
            out.append(Write(2, "io", "io.max", f"{_devnum(d, BLKIO_OPTIONS[key])} {field_name}="
                             f"{rate if rate else 'max'}", BLKIO_OPTIONS[key]))
    return out


def _hugetlb(limits: Any, version: int) -> list[Write]:
    out: list[Write] = []
    for h in limits or []:
        size = h.get("pageSize") if isinstance(h, dict) else None
        if not isinstance(size, str) or not _PAGESIZE_RE.match(size):
            raise InvalidSpec(f"linux.resources.hugepageLimits: invalid pageSize in {h!r}",
                              field="hugepageLimits", value=h)
        limit = _int(h, "limit", "linux.resources.hugepageLimits")
        if limit is None:
            continue
        fname = f"hugetlb.{size}.limit_in_bytes" if version == 1 else f"hugetlb.{size}.max"
        out.append(Write(version, "hugetlb", fname, str(limit), "linux.resources.hugepageLimits"))
    return out


def _net_cls(net: dict[str, Any]) -> list[Write]:
    cid = _int(net, "classID", "linux.resources.network")
    return [Write(1, "net_cls", "net_cls.classid", str(cid), "linux.resources.network.classID")] if cid else []


def _net_prio(net: dict[str, Any]) -> list[Write]:
    out = []
    for p in net.get("priorities") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("priority"), int):
            raise InvalidSpec(f"linux.resources.network.priorities: invalid entry {p!r}",
                              field="priorities", value=p)
        out.append(Write(1, "net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}",
                         "linux.resources.network.priorities"))
    return out


def _devices_v1(rules: Any) -> list[Write]:
    if not isinstance(rules, list):
        raise InvalidSpec(f"linux.resources.devices must be a list, got {rules!r}", field="devices", value=rules)
    out = []
    for r in rules:
        allow, line = device_rule_string(r)
        out.append(Write(1, "devices", "devices.allow" if allow else "devices.deny", line,
                         "--device-cgroup-rule"))
    return out


def _unified(unified: Any) -> list[Write]:
    if not isinstance(unified, dict):
        raise InvalidSpec(f"linux.resources.unified must be an object, got {unified!r}",
                          field="unified", value=unified)
    out = []
    for k, v in unified.items():
        if not isinstance(k, str) or not _UNIFIED_RE.match(k) or k.startswith("cgroup."):
            raise InvalidSpec(f"linux.resources.unified: invalid cgroup file name {k!r}", field="unified", value=k)
        out.append(Write(2, k.split(".", 1)[0], k, str(v), f"linux.resources.unified[{k}]"))
    return out


# --- the public planners ------------------------------------------------------------------

def _check_resources(resources: Any) -> dict[str, Any]:
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise InvalidSpec(f"linux.resources must be an object, got {resources!r}", field="resources",
                          value=resources)
    unknown = set(resources) - {"memory", "cpu", "pids", "blockIO", "hugepageLimits", "network",
                                "devices", "unified", "rdma"}
    if unknown:
        raise InvalidSpec(f"linux.resources: unknown field(s) {', '.join(sorted(unknown))}",
                          field="resources", value=sorted(unknown))
    if resources.get("rdma"):
        raise InvalidSpec("linux.resources.rdma: berth does not manage the rdma controller",
                          field="rdma", value=resources["rdma"])
    return resources


def plan_v1(resources: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Every write for a pure cgroup v1 host: (controller, file, value), in order."""
    return [(w.controller, w.file, w.value) for w in _writes(resources, 1)]


def plan_v2(resources: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every write for a pure cgroup v2 host: (file, value), in order.

    Device rules are not files on v2: ``plan()`` returns them for the eBPF device filter.
    """
    return [(w.file, w.value) for w in _writes(resources, 2)]


# section -> (v1 controller, v2 controller, v1 planner, v2 planner); a None planner means the
# section has no equivalent in that version.
def _sections(r: dict[str, Any]) -> list[tuple[str, str | None, str | None, Any, Any]]:
    mem, cpu = _section(r, "memory"), _section(r, "cpu")
    pids, blk, net = _section(r, "pids"), _section(r, "blockIO"), _section(r, "network")
    huge = r.get("hugepageLimits")
    return [
        ("memory", "memory", "memory", lambda: _memory_v1(mem), lambda: _memory_v2(mem)),
        ("cpu", "cpu", "cpu", lambda: _cpu_v1(cpu), lambda: _cpu_v2(cpu)),
        ("cpuset", "cpuset", "cpuset", lambda: _cpuset(cpu, 1), lambda: _cpuset(cpu, 2)),
        ("pids", "pids", "pids", lambda: _pids(pids, 1), lambda: _pids(pids, 2)),
        ("blkio", "blkio", "io", lambda: _blkio_v1(blk), lambda: _blkio_v2(blk)),
        ("hugetlb", "hugetlb", "hugetlb", lambda: _hugetlb(huge, 1), lambda: _hugetlb(huge, 2)),
        ("net_cls", "net_cls", None, lambda: _net_cls(net), None),
        ("net_prio", "net_prio", None, lambda: _net_prio(net), None),
    ]


def _v2_only_error(section: str, writes: list[Write]) -> InvalidSpec:
    opt = writes[0].option
    return InvalidSpec(f"{opt}: cgroup v2 has no {section} controller", field=opt)


def _writes(resources: dict[str, Any] | None, version: int) -> list[Write]:
    r = _check_resources(resources)
    out: list[Write] = []
    for section, _c1, _c2, p1, p2 in _sections(r):
        if version == 1:
            out += p1()
        elif p2 is not None:
            out += p2()
        elif p1():
            raise _v2_only_error(section, p1())
    if version == 1 and r.get("devices") is not None:
        out += _devices_v1(r["devices"])
    if r.get("unified"):
        if version == 1:
            raise InvalidSpec("linux.resources.unified: needs cgroup v2", field="unified")
        out += _unified(r["unified"])
    return out


def plan(layout: CgroupLayout, resources: dict[str, Any] | None) -> Plan:
    """The writes for this host: each section goes to the hierarchy that holds its controller.

    Raises InvalidSpec naming the option when no hierarchy of this host can honour it, before
    anything is written: a cgroup is never left half-configured by a bad request.
    """
    r = _check_resources(resources)
    result = Plan()
    for _name, c1, c2, p1, p2 in _sections(r):
        if c1 and layout.has_v1(c1):
            result.writes += p1()
        elif c2 and p2 is not None and layout.has_v2(c2):
            result.writes += p2()
        else:
            wanted = p1()
            if wanted:
                where = c1 if layout.v2 is None or c2 is None else f"{c1}/{c2}"
                raise InvalidSpec(f"{wanted[0].option}: the {where} cgroup controller is not available on "
                                  f"this host ({layout.mode} layout)", field=wanted[0].option)
    if r.get("devices") is not None:
        v1_rules = _devices_v1(r["devices"])  # validates in every layout
        if layout.has_v1("devices"):
            result.writes += v1_rules
        elif layout.v2 is not None:
            result.bpf_devices = list(r["devices"])
        elif v1_rules:
            raise InvalidSpec("--device-cgroup-rule: this host has no devices cgroup", field="devices")
    if r.get("unified"):
        writes = _unified(r["unified"])
        missing = sorted({w.controller for w in writes if not layout.has_v2(w.controller)})
        if missing:
            raise InvalidSpec(f"linux.resources.unified: the {', '.join(missing)} controller(s) are not "
                              f"available on this host's cgroup v2", field="unified", value=missing)
        result.writes += writes
    return result


def order_v1_memory(writes: list[Write], current_limit: int | None) -> list[Write]:
    """Order the v1 memory and memsw writes so that the kernel accepts each step.

    The kernel requires memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every moment:
    when the new memory+swap limit is unlimited or above the current memory limit, memsw
    goes first; otherwise memory goes first (runc's rule). ``current_limit`` None means
    unlimited, as in a fresh cgroup.
    """
    mem = next((w for w in writes if w.file == "memory.limit_in_bytes"), None)
    sw = next((w for w in writes if w.file == "memory.memsw.limit_in_bytes"), None)
    if mem is None or sw is None:
        return writes
    swap = int(sw.value)
    if swap == -1 or (current_limit is not None and current_limit < swap):
        first, second = sw, mem
    else:
        first, second = mem, sw
    rest = [w for w in writes if w is not mem and w is not sw]
    return [first, second] + rest
