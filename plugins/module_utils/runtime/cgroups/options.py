"""Docker's resource options (HostConfig fields) -> OCI ``linux.resources``, with Docker's checks.

The container service stores Docker-shaped HostConfig values (what `docker inspect` shows and
what the `container` module compares) and writes OCI resources into the runtime spec; this is
the one place where the two meet, so `run`, `update` and the module agree on every rule:

- ``Memory`` below 6 MiB is refused; ``MemorySwap`` 0 with a ``Memory`` means twice the memory
  (Docker's default), -1 means unlimited swap; without swap accounting an explicit
  ``MemorySwap`` is refused, and the implicit default is dropped (Docker warns and does the same);
- ``NanoCpus`` (``--cpus``) becomes a CFS quota over a 100 ms period and conflicts with
  ``CpuQuota``/``CpuPeriod``;
- ``PidsLimit`` 0 or negative means unlimited.
"""
from __future__ import annotations

import os
import stat
from typing import Any

from ...errors import InvalidSpec

MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD = 100_000  # microseconds: docker's period for --cpus


def _num(hc: dict[str, Any], key: str, option: str) -> int:
    v = hc.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidSpec(f"{option}: expected an integer, got {v!r}", field=option, value=v)
    return v


def swap_accounting_available() -> bool:
    """True when the host can limit memory+swap (v1 memsw files, or v2 memory.swap.max)."""
    from .layout import detect
    try:
        layout = detect()
    except Exception:  # noqa: BLE001 - no cgroups at all: certainly no swap accounting
        return False
    if "memory" in layout.v1:
        return os.path.exists(os.path.join(layout.v1["memory"], "memory.memsw.limit_in_bytes"))
    if layout.has_v2("memory") and layout.v2:
        # the root has no memory.swap.max; any child shows whether the kernel accounts swap
        for entry in os.scandir(layout.v2):
            if entry.is_dir(follow_symlinks=False):
                return os.path.exists(os.path.join(entry.path, "memory.swap.max"))
    return False


def _device_numbers(path: Any, option: str) -> tuple[int, int]:
    if not isinstance(path, str) or not path:
        raise InvalidSpec(f"{option}: invalid device path {path!r}", field=option, value=path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidSpec(f"{option}: {path}: {exc.strerror}", field=option, value=path) from exc
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidSpec(f"{option}: {path} is not a block device", field=option, value=path)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _throttle(entries: Any, option: str, key: str) -> list[dict[str, int]]:
    out = []
    for e in entries or []:
        if not isinstance(e, dict):
            raise InvalidSpec(f"{option}: expected {{Path, {key}}}, got {e!r}", field=option, value=e)
        major, minor = _device_numbers(e.get("Path"), option)
        rate = e.get(key)
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 0:
            raise InvalidSpec(f"{option}: invalid {key.lower()} {rate!r}", field=option, value=e)
        out.append({"major": major, "minor": minor, "rate" if key == "Rate" else "weight": rate})
    return out


def docker_resources(hc: dict[str, Any], swap_accounting: bool | None = None,
                     ncpus: int | None = None) -> dict[str, Any]:
    """OCI ``linux.resources`` (without devices) from Docker HostConfig resource fields."""
    memory = _num(hc, "Memory", "--memory")
    swap = _num(hc, "MemorySwap", "--memory-swap")
    reservation = _num(hc, "MemoryReservation", "--memory-reservation")
    if memory < 0:
        memory = 0
    if memory and memory < MIN_MEMORY:
        raise InvalidSpec("--memory: minimum memory limit allowed is 6MB", field="--memory", value=memory)
    if reservation and reservation < MIN_MEMORY:
        raise InvalidSpec("--memory-reservation: minimum memory reservation allowed is 6MB",
                          field="--memory-reservation", value=reservation)
    if memory and reservation and reservation > memory:
        raise InvalidSpec("--memory-reservation: the memory limit can not be less than the memory "
                          "reservation limit", field="--memory-reservation", value=reservation)
    if swap > 0 and not memory:
        raise InvalidSpec("--memory-swap: you should always set the memory limit (--memory) when using "
                          "a memory+swap limit", field="--memory-swap", value=swap)
    if swap > 0 and swap < memory:
        raise InvalidSpec("--memory-swap: the memory+swap limit should be larger than the memory limit",
                          field="--memory-swap", value=swap)
    if swap < -1:
        raise InvalidSpec(f"--memory-swap: invalid value {swap}", field="--memory-swap", value=swap)
    explicit_swap = swap != 0
    if memory and swap == 0:
        swap = 2 * memory
    if swap and swap != -1:
        if swap_accounting is None:
            swap_accounting = swap_accounting_available()
        if not swap_accounting:
            if explicit_swap:
                raise InvalidSpec("--memory-swap: this kernel has no swap accounting", field="--memory-swap",
                                  value=swap)
            swap = 0

    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if memory:
        mem["limit"] = memory
    if reservation:
        mem["reservation"] = reservation
    if swap:
        mem["swap"] = swap
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        if isinstance(swappiness, bool) or not isinstance(swappiness, int) or not 0 <= swappiness <= 100:
            raise InvalidSpec(f"--memory-swappiness: invalid value {swappiness!r}, the valid range is 0-100",
                              field="--memory-swappiness", value=swappiness)
        mem["swappiness"] = swappiness
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem

    cpu: dict[str, Any] = {}
    nano = _num(hc, "NanoCpus", "--cpus")
    period = _num(hc, "CpuPeriod", "--cpu-period")
    quota = _num(hc, "CpuQuota", "--cpu-quota")
    shares = _num(hc, "CpuShares", "--cpu-shares")
    if nano and period:
        raise InvalidSpec("--cpus: conflicting options: Nano CPUs and CPU Period cannot both be set",
                          field="--cpus", value=nano)
    if nano and quota:
        raise InvalidSpec("--cpus: conflicting options: Nano CPUs and CPU Quota cannot both be set",
                          field="--cpus", value=nano)
    if nano:
        n = ncpus or os.cpu_count() or 1
        if nano < 0 or nano > n * 1_000_000_000:
            raise InvalidSpec(f"--cpus: range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs "
                              "available", field="--cpus", value=nano)
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = nano * CPU_PERIOD // 1_000_000_000
        if cpu["quota"] < 1000:
            raise InvalidSpec("--cpus: the minimum is 0.01 CPU", field="--cpus", value=nano)
    if shares < 0:
        raise InvalidSpec(f"--cpu-shares: invalid value {shares}", field="--cpu-shares", value=shares)
    if shares:
        cpu["shares"] = shares
    if period:
        cpu["period"] = period
    if quota:
        cpu["quota"] = quota
    for key, oci, opt in (("CpuRealtimePeriod", "realtimePeriod", "--cpu-rt-period"),
                          ("CpuRealtimeRuntime", "realtimeRuntime", "--cpu-rt-runtime")):
        v = _num(hc, key, opt)
        if v:
            cpu[oci] = v
    for key, oci in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        cpuset = hc.get(key)
        if cpuset:
            cpu[oci] = cpuset
    if cpu:
        res["cpu"] = cpu

    if hc.get("PidsLimit") is not None:
        limit = _num(hc, "PidsLimit", "--pids-limit")
        res["pids"] = {"limit": limit if limit > 0 else -1}

    blk: dict[str, Any] = {}
    weight = _num(hc, "BlkioWeight", "--blkio-weight")
    if weight:
        if not 10 <= weight <= 1000:
            raise InvalidSpec("--blkio-weight: the range of blkio weight is from 10 to 1000",
                              field="--blkio-weight", value=weight)
        blk["weight"] = weight
    for key, oci, opt, field in (
            ("BlkioWeightDevice", "weightDevice", "--blkio-weight-device", "Weight"),
            ("BlkioDeviceReadBps", "throttleReadBpsDevice", "--device-read-bps", "Rate"),
            ("BlkioDeviceWriteBps", "throttleWriteBpsDevice", "--device-write-bps", "Rate"),
            ("BlkioDeviceReadIOps", "throttleReadIOPSDevice", "--device-read-iops", "Rate"),
            ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice", "--device-write-iops", "Rate")):
        entries = _throttle(hc.get(key), opt, field)
        if entries:
            blk[oci] = entries
    if blk:
        res["blockIO"] = blk
    return res
