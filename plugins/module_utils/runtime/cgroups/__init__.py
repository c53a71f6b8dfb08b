"""cgroups v1, v2 and hybrid for berth's runtime (stdlib and ctypes only: the monitor imports it).

    layout = detect()
    cg = Cgroup.create(layout, f"berth/{cid}", spec["linux"]["resources"])
    cg.add(pid); cg.freeze(); cg.thaw(); cg.update({"memory": {"limit": 64 << 20}})
    before = cg.oom_kill_count(); ...; cg.oom_killed_since(before)
    cg.stats(); cg.destroy()

Device rules: on v1 they go to the devices controller; on v2 (which has no devices controller)
they are compiled into an eBPF cgroup-device program attached to the container's cgroup2
directory (bpfdev.py), so pure v2 hosts enforce them too.
"""
from __future__ import annotations

from .cgroup import Cgroup, check_name
from .layout import CgroupLayout, detect
from .options import docker_resources
from .plan import Plan, Write, plan, plan_v1, plan_v2, shares_to_weight, weight_to_shares

__all__ = ["Cgroup", "CgroupLayout", "Plan", "Write", "check_name", "detect", "docker_resources",
           "plan", "plan_v1", "plan_v2", "shares_to_weight", "weight_to_shares"]
