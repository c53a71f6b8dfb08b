"""The runtime's one seam to the cgroups package (runtime/cgroups/).

The monitor, the launcher and the Runtime need a handful of things from a container's cgroup:
create it with the spec's resources, join it (from the launcher's child, before the cgroup
namespace is unshared), count OOM kills, freeze and thaw, list pids, collect stats, apply an
update and remove it. This module asks the cgroups package for each; where that package does
not offer something yet, it says so (``available`` is False) rather than pretending.
"""
from __future__ import annotations

from typing import Any

from ..errors import RuntimeFailure

CGROUP_PARENT = "berth"


def cgroups_path(spec: dict[str, Any], cid: str) -> str:
    """linux.cgroupsPath, or berth's default (/berth/<id>) when the spec leaves it empty."""
    p = ((spec.get("linux") or {}).get("cgroupsPath") or "").strip()
    if not p:
        p = f"/{CGROUP_PARENT}/{cid}"
    if ".." in p.split("/"):
        raise RuntimeFailure(f"invalid linux.cgroupsPath {p!r}", cgroupsPath=p)
    return "/" + p.strip("/")


_layout: Any = None


def _host_layout() -> Any:
    """The host's cgroup layout, read once per process (the server reads it before forking)."""
    global _layout
    if _layout is None:
        from .cgroups import detect

        _layout = detect()
    return _layout


class ContainerCgroup:
    """A container's cgroup through the cgroups package's ``Cgroup``."""

    def __init__(self, path: str, resources: dict[str, Any] | None) -> None:
        from .cgroups import Cgroup

        self.path = path
        self.resources = resources or {}
        self._cg = Cgroup(_host_layout(), path.strip("/"))

    def create(self) -> None:
        from .cgroups import Cgroup

        self._cg = Cgroup.create(_host_layout(), self._cg.name, self.resources)

    def join(self) -> None:
        """Called in the launcher's child: move this process (0: the caller) into the cgroup."""
        self._cg.add(0)

    def add(self, pid: int) -> None:
        """Move another process in (the launcher's parent moves its child, see launcher.spawn)."""
        self._cg.add(pid)

    def oom_kills(self) -> int:
        try:
            return int(self._cg.oom_kill_count())
        except (OSError, ValueError):
            return 0

    def freeze(self) -> None:
        self._cg.freeze()

    def thaw(self) -> None:
        self._cg.thaw()

    def frozen(self) -> bool:
        try:
            return bool(self._cg.frozen())
        except (OSError, RuntimeFailure):
            return False

    def pids(self) -> list[int]:
        return list(self._cg.procs())

    def stats(self) -> dict[str, Any]:
        return dict(self._cg.stats())

    def update(self, resources: dict[str, Any]) -> None:
        self._cg.update(resources)

    def remove(self) -> None:
        """Kill what is left and remove the directories; a cgroup already gone is fine."""
        self._cg.destroy()

    kill_all = remove


def for_spec(spec: dict[str, Any], cid: str) -> ContainerCgroup:
    return ContainerCgroup(cgroups_path(spec, cid), (spec.get("linux") or {}).get("resources"))
