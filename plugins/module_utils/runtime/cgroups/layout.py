"""Which cgroup hierarchies this host mounts, read from /proc/self/mountinfo.

Three shapes exist in the wild and berth runs on all of them:

- ``v2``: one cgroup2 mount (Debian 12, Fedora, recent Ubuntu);
- ``v1``: one cgroup mount per controller (or per group of co-mounted controllers);
- ``hybrid``: v1 controllers plus a cgroup2 mount, usually empty, at /sys/fs/cgroup/unified
  (systemd's hybrid mode; the machines berth is developed on). crun refuses this layout; berth
  puts each controller where it is mounted and uses the cgroup2 tree for what needs no
  controller (cgroup.procs, cgroup.freeze, cgroup.events, cgroup.kill, device filters).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ...errors import RuntimeFailure

# v1 controllers berth knows how to use or at least to join; named hierarchies
# (name=systemd) carry no controller and are left alone.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")


@dataclass(frozen=True)
class CgroupLayout:
    mode: str                                          # "v1" | "v2" | "hybrid"
    v1: dict[str, str] = field(default_factory=dict)   # controller -> mount point
    v2: str | None = None                              # cgroup2 mount point
    v2_controllers: tuple[str, ...] = ()               # controllers available at the v2 root

    def has_v1(self, controller: str) -> bool:
        return controller in self.v1

    def has_v2(self, controller: str) -> bool:
        return self.v2 is not None and controller in self.v2_controllers

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "v1": dict(self.v1), "v2": self.v2,
                "v2_controllers": list(self.v2_controllers)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CgroupLayout:
        return cls(d["mode"], dict(d.get("v1") or {}), d.get("v2"), tuple(d.get("v2_controllers") or ()))


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, super options) of every cgroup/cgroup2 mount."""
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        tail = right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype = tail[0]
        if fstype in ("cgroup", "cgroup2"):
            found.append((_unescape(fields[4]), fstype, tail[2]))
    return found


def read_v2_controllers(mount: str) -> tuple[str, ...]:
    try:
        with open(os.path.join(mount, "cgroup.controllers")) as f:
            return tuple(f.read().split())
    except OSError:
        return ()


def layout_from_mounts(mounts: list[tuple[str, str, str]],
                       v2_controllers: tuple[str, ...] | None = None) -> CgroupLayout:
    """Pure: a layout from parsed mounts; ``v2_controllers`` None reads them from the mount."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for point, fstype, opts in mounts:
        if fstype == "cgroup2":
            v2 = v2 or point
            continue
        for opt in opts.split(","):
            if opt in V1_CONTROLLERS and opt not in v1:
                v1[opt] = point
    if v2 is None and not v1:
        raise RuntimeFailure("no cgroup hierarchy is mounted on this host (see /proc/self/mountinfo)")
    if v2 is not None and v2_controllers is None:
        v2_controllers = read_v2_controllers(v2)
    # A controller that v1 holds cannot be on v2; the kernel already guarantees it, but a
    # stale mount table in a test should not make berth write to both.
    ctrls = tuple(c for c in (v2_controllers or ()) if c not in v1)
    mode = "v2" if not v1 else ("hybrid" if v2 else "v1")
    return CgroupLayout(mode, v1, v2, ctrls)


def detect(mountinfo: str = "/proc/self/mountinfo") -> CgroupLayout:
    """The cgroup layout of this host as this process sees it."""
    try:
        with open(mountinfo) as f:
            text = f.read()
    except OSError as exc:
        raise RuntimeFailure(f"cannot read {mountinfo}: {exc.strerror}") from exc
    return layout_from_mounts(parse_mountinfo(text))
