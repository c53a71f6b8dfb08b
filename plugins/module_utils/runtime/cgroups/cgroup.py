"""One container's cgroup, across every hierarchy the host mounts.

A ``Cgroup`` named ``berth/<id>`` is a directory of that name in each v1 hierarchy (memory,
cpu, pids, freezer...) and in the cgroup2 tree when one is mounted, even an empty one: the
cgroup2 directory costs nothing and gives cgroup.kill, cgroup.events and device filters. Each
resource goes to the hierarchy that holds its controller (see plan.py). The writes for a
create are validated before the first mkdir, and a failed create removes what it made.

Files under /sys/fs/cgroup are kernel interfaces, not storage: they are written in place with
one write() each (atomic renames do not apply), and a refusal is reported with the option
that asked for the value.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from ...errors import Conflict, InvalidSpec, NotFound, RuntimeFailure
from . import bpfdev, stats
from .layout import CgroupLayout
from .plan import Plan, Write, order_v1_memory, plan

_NAME_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]*$")

# why a file can be missing, for the message that names the option
_MISSING = {
    "memory.memsw.limit_in_bytes": "this kernel has no swap accounting (boot with swapaccount=1)",
    "memory.swap.max": "this kernel has no swap accounting",
    "cpu.rt_period_us": "this kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED)",
    "cpu.rt_runtime_us": "this kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED)",
    "cpu.cfs_quota_us": "this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)",
    "cpu.cfs_period_us": "this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)",
    "cpu.max": "this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)",
    "cpu.cfs_burst_us": "this kernel has no CFS burst",
    "cpu.max.burst": "this kernel has no CFS burst",
    "memory.kmem.limit_in_bytes": "this kernel has no kernel memory accounting",
    "memory.kmem.tcp.limit_in_bytes": "this kernel has no kernel memory accounting",
    "blkio.weight": "this kernel offers no proportional I/O weight (neither blkio.weight nor BFQ)",
    "io.bfq.weight": "this kernel offers no proportional I/O weight (neither BFQ nor io.weight)",
}
_REFUSED = {errno.EINVAL, errno.EBUSY, errno.ERANGE, errno.EOVERFLOW, errno.ENOSPC, errno.EOPNOTSUPP,
            errno.ENOTSUP}


def check_name(name: str) -> str:
    """``berth/<id>`` style names: relative, no '..', characters a cgroup path can safely hold."""
    if not isinstance(name, str):
        raise InvalidSpec(f"invalid cgroup name {name!r}", field="cgroupsPath", value=name)
    parts = [p for p in name.strip("/").split("/") if p]
    if not parts or len(parts) > 8 or any(not _NAME_PART.match(p) or p in (".", "..") for p in parts):
        raise InvalidSpec(f"invalid cgroup name {name!r}", field="cgroupsPath", value=name)
    return "/".join(parts)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read().strip()


class Cgroup:
    def __init__(self, layout: CgroupLayout, name: str) -> None:
        self.layout = layout
        self.name = check_name(name)
        self.v1_dirs: dict[str, Path] = {c: Path(m) / self.name for c, m in layout.v1.items()}
        self.v2_dir: Path | None = Path(layout.v2) / self.name if layout.v2 else None

    def __repr__(self) -> str:
        return f"Cgroup({self.name!r}, {self.layout.mode})"

    # --- where things are ---------------------------------------------------------------
    def dirs(self) -> list[Path]:
        """Every directory of this cgroup, one per hierarchy (co-mounted controllers share one)."""
        seen: list[Path] = []
        for d in self.v1_dirs.values():
            if d not in seen:
                seen.append(d)
        if self.v2_dir is not None:
            seen.append(self.v2_dir)
        return seen

    def version_of(self, controller: str) -> int | None:
        if self.layout.has_v1(controller):
            return 1
        if self.layout.has_v2(controller):
            return 2
        return None

    def dir_for(self, controller: str) -> Path | None:
        v = self.version_of(controller)
        if v == 1:
            return self.v1_dirs[controller]
        return self.v2_dir if v == 2 else None

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs())

    # --- life cycle ---------------------------------------------------------------------
    @classmethod
    def create(cls, layout: CgroupLayout, name: str, resources: dict[str, Any] | None = None) -> Cgroup:
        """Make the cgroup in every hierarchy and apply ``resources`` (OCI linux.resources).

        A leftover empty cgroup of the same name (a container restarted after a crash) is
        removed first, so no stale limit survives; one that still holds processes is a Conflict.
        """
        cg = cls(layout, name)
        the_plan = plan(layout, resources)  # every InvalidSpec surfaces before any mkdir
        if cg.exists():
            if cg.procs():
                raise Conflict(f"cgroup {cg.name} already exists and holds processes", cgroup=cg.name)
            cg.destroy()
        try:
            cg._make_dirs(the_plan)
            cg._apply(the_plan)
        except BaseException:
            cg.destroy()
            raise
        return cg

    @classmethod
    def open(cls, layout: CgroupLayout, name: str) -> Cgroup:
        cg = cls(layout, name)
        if not cg.exists():
            raise NotFound(f"no cgroup {cg.name}", cgroup=cg.name)
        return cg

    def _make_dirs(self, the_plan: Plan) -> None:
        for ctrl, mount in self.layout.v1.items():
            d = self.v1_dirs[ctrl]
            if d.is_dir():
                continue
            self._mkdirs(Path(mount))
        # cpuset may share a mount with others (cpuset,cpu...): initialise it wherever it is
        if "cpuset" in self.layout.v1:
            self._init_cpuset(Path(self.layout.v1["cpuset"]))
        if self.v2_dir is not None and self.layout.v2 is not None:
            wanted = {w.controller for w in the_plan.writes if w.version == 2}
            # stats need memory, cpu, pids and io accounting even without limits
            wanted |= {"memory", "cpu", "pids", "io"} & set(self.layout.v2_controllers)
            self._mkdirs(Path(self.layout.v2), enable=sorted(wanted))

    def _mkdirs(self, mount: Path, enable: list[str] | None = None) -> None:
        cur = mount
        for part in self.name.split("/"):
            if enable:
                self._enable_controllers(cur, enable)
            cur = cur / part
            try:
                cur.mkdir()
            except FileExistsError:
                pass
            except OSError as exc:
                raise RuntimeFailure(f"cannot create cgroup {cur}: {exc.strerror}", path=str(cur)) from exc

    @staticmethod
    def _enable_controllers(parent: Path, controllers: list[str]) -> None:
        try:
            available = set(_read(parent / "cgroup.controllers").split())
            enabled = set(_read(parent / "cgroup.subtree_control").split())
        except OSError:
            return
        for c in controllers:
            if c in available and c not in enabled:
                try:
                    _write(parent / "cgroup.subtree_control", f"+{c}")
                except OSError:
                    # reported later, by the write that needed the controller, with its option
                    pass

    def _init_cpuset(self, mount: Path) -> None:
        # a new v1 cpuset starts with no cpus and no mems, and refuses tasks until given some
        cur = mount
        for part in self.name.split("/"):
            parent, cur = cur, cur / part
            for f in ("cpuset.cpus", "cpuset.mems"):
                try:
                    if not _read(cur / f):
                        _write(cur / f, _read(parent / f))
                except OSError as exc:
                    raise RuntimeFailure(f"cannot initialise {cur / f}: {exc.strerror}") from exc

    def _target(self, w: Write) -> Path:
        if w.version == 1:
            return self.v1_dirs[w.controller]
        assert self.v2_dir is not None
        return self.v2_dir

    def _apply(self, the_plan: Plan) -> None:
        writes = the_plan.writes
        mem_dir = self.v1_dirs.get("memory")
        if mem_dir is not None and any(w.file == "memory.memsw.limit_in_bytes" for w in writes):
            try:
                current: int | None = int(_read(mem_dir / "memory.limit_in_bytes"))
            except (OSError, ValueError):
                current = None
            writes = order_v1_memory(writes, current)
        for w in writes:
            self._write_one(w)
        if the_plan.bpf_devices is not None and self.v2_dir is not None:
            bpfdev.attach(self.v2_dir, the_plan.bpf_devices)

    def _write_one(self, w: Write) -> None:
        d = self._target(w)
        path, value = d / w.file, w.value
        if not path.exists() and w.alternative and (d / w.alternative[0]).exists():
            path, value = d / w.alternative[0], w.alternative[1]
        try:
            _write(path, value)
        except FileNotFoundError:
            if not d.is_dir():
                raise NotFound(f"cgroup {self.name} is gone ({d})", cgroup=self.name) from None
            reason = _MISSING.get(w.file, f"this kernel has no {w.file}")
            if w.version == 2 and w.controller and w.controller not in self.layout.v2_controllers:
                reason = f"the {w.controller} controller is not enabled on cgroup v2"
            raise InvalidSpec(f"{w.option}: {reason}", field=w.option, file=w.file) from None
        except OSError as exc:
            if exc.errno in _REFUSED:
                hint = ""
                if exc.errno == errno.EBUSY and w.controller == "memory":
                    hint = " (the container already uses more memory than that)"
                raise InvalidSpec(f"{w.option}: the kernel refused {value!r} for {path.name}: "
                                  f"{exc.strerror}{hint}", field=w.option, value=value) from exc
            raise RuntimeFailure(f"cannot write {value!r} to {path}: {exc.strerror}", path=str(path)) from exc

    def update(self, resources: dict[str, Any]) -> None:
        """Change limits in place (docker update). Device rules given here replace the old ones."""
        the_plan = plan(self.layout, resources)
        if not self.exists():
            raise NotFound(f"no cgroup {self.name}", cgroup=self.name)
        self._apply(the_plan)

    # --- processes ----------------------------------------------------------------------
    def add(self, pid: int) -> None:
        """Move ``pid`` (0: the calling process) into the cgroup in every hierarchy."""
        for d in self.dirs():
            try:
                _write(d / "cgroup.procs", str(pid))
            except OSError as exc:
                raise RuntimeFailure(f"cannot move process {pid} into {d}: {exc.strerror}",
                                     pid=pid, path=str(d)) from exc

    def procs(self) -> list[int]:
        """Every process in the cgroup or below it, in any hierarchy."""
        pids: set[int] = set()
        for d in self.dirs():
            for root, _dirs, files in os.walk(d):
                if "cgroup.procs" not in files:
                    continue
                try:
                    text = _read(Path(root) / "cgroup.procs")
                except OSError:
                    continue
                pids.update(int(p) for p in text.split())
        return sorted(pids)

    # --- freezer ------------------------------------------------------------------------
    def _freezer(self) -> tuple[int, Path]:
        if "freezer" in self.v1_dirs:
            return 1, self.v1_dirs["freezer"]
        if self.v2_dir is not None and (self.v2_dir / "cgroup.freeze").exists():
            return 2, self.v2_dir
        raise RuntimeFailure("this host has no cgroup freezer (neither v1 freezer nor cgroup.freeze)")

    def frozen(self) -> bool:
        version, d = self._freezer()
        try:
            if version == 1:
                return _read(d / "freezer.state") == "FROZEN"
            return stats.read_keyed(d / "cgroup.events").get("frozen") == 1
        except FileNotFoundError:
            raise NotFound(f"no cgroup {self.name}", cgroup=self.name) from None

    def freeze(self, timeout: float = 10.0) -> None:
        """Stop every process of the cgroup; returns once the kernel reports them all frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 10.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        version, d = self._freezer()
        deadline = time.monotonic() + timeout
        delay = 0.0005
        try:
            while True:
                # v1 freezing can stall on a task in an uninterruptible sleep; writing the
                # state again retries the tasks that were missed, as runc does
                if version == 1:
                    _write(d / "freezer.state", "FROZEN" if frozen else "THAWED")
                else:
                    _write(d / "cgroup.freeze", "1" if frozen else "0")
                if self.frozen() == frozen:
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except FileNotFoundError:
            raise NotFound(f"no cgroup {self.name}", cgroup=self.name) from None
        if frozen:
            self._set_frozen(False, 5.0)
        raise RuntimeFailure(f"cgroup {self.name} did not {'freeze' if frozen else 'thaw'} within {timeout}s")

    # --- accounting ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return stats.collect(self)

    def oom_kill_count(self) -> int:
        """How many processes the OOM killer killed in this cgroup so far."""
        d = self.dir_for("memory")
        if d is None:
            return 0
        name = "memory.oom_control" if self.version_of("memory") == 1 else "memory.events"
        return stats.read_keyed(d / name).get("oom_kill", 0)

    def oom_killed_since(self, count_before: int) -> bool:
        return self.oom_kill_count() > count_before

    # --- the end ------------------------------------------------------------------------
    def destroy(self, timeout: float = 10.0, prune_parents: bool = False) -> None:
        """Kill what is left (SIGKILL, after a thaw), then remove every directory, leaves first.

        Never fails on a cgroup that is already gone. ``prune_parents`` also removes the
        ancestors of the name that are left empty (tests use it; ``berth/`` stays otherwise).
        """
        if not self.exists():
            return
        if os.getpid() in self.procs():
            raise RuntimeFailure(f"refusing to destroy cgroup {self.name}: this process is in it")
        try:
            if self.frozen():
                self.thaw(timeout)
        except (RuntimeFailure, NotFound):
            pass
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            pids = self.procs()
            if not pids:
                break
            if self.v2_dir is not None and (self.v2_dir / "cgroup.kill").exists():
                try:
                    _write(self.v2_dir / "cgroup.kill", "1")
                except OSError:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"processes {pids} of cgroup {self.name} survived SIGKILL")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        for d in self.dirs():
            self._rmtree(d, deadline)
            if prune_parents:
                self._prune(d)

    def _rmtree(self, top: Path, deadline: float) -> None:
        if not top.is_dir():
            return
        for root, dirs, _files in os.walk(top, topdown=False):
            for name in dirs:
                self._rmdir(Path(root) / name, deadline)
        self._rmdir(top, deadline)

    @staticmethod
    def _rmdir(path: Path, deadline: float) -> None:
        delay = 0.001
        while True:
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # EBUSY while the last killed tasks finish exiting
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise RuntimeFailure(f"cannot remove cgroup {path}: {exc.strerror}", path=str(path)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _prune(self, d: Path) -> None:
        for _ in range(len(self.name.split("/")) - 1):
            d = d.parent
            try:
                os.rmdir(d)
            except OSError:
                return
