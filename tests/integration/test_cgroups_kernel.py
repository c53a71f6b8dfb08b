"""cgroups against the real kernel, as root: limits land in the files, an OOM kill is seen, a
fork loop stops at the pids limit, the freezer stops a busy process, devices are enforced, and
every cgroup is removed afterwards (tests/fixtures/cgroups.py removes leftovers of a failure)."""
from __future__ import annotations

import os
import select
import subprocess
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.runtime.cgroups import Cgroup, bpfdev
from ansible_collections.berth.engine.plugins.module_utils.runtime.defaults import default_device_rules

from tests.fixtures import cgroups as fx
from tests.fixtures.cgroups import BUSY_LOOP, FORK_LOOP, MEMORY_HOG, Helper

# the shared fixtures of tests/fixtures/cgroups.py, by name
layout, cgroup_name, cgroup2_layout, helpers = fx.layout, fx.cgroup_name, fx.cgroup2_layout, fx.helpers

pytestmark = pytest.mark.root

ALLOC_8M = "import sys, time; sys.stdin.read(1)\nx = bytearray(8 << 20)\nprint('ok', flush=True)\ntime.sleep(120)\n"
DEVICE_PROBE = """import os, sys
sys.stdin.read(1)
out = []
for path, flags in (("/dev/null", os.O_RDWR), ("/dev/kmsg", os.O_RDONLY)):
    try:
        os.close(os.open(path, flags))
        out.append("ok")
    except OSError as exc:
        out.append(str(exc.errno))
print(" ".join(out), flush=True)
"""


def read(cg: Cgroup, controller: str, name: str) -> str:
    d = cg.dir_for(controller)
    assert d is not None, f"no {controller} hierarchy"
    return (d / name).read_text().strip()


def readline(h: Helper, timeout: float = 60) -> str:
    assert h.proc.stdout is not None
    ready, _, _ = select.select([h.proc.stdout], [], [], timeout)
    assert ready, "the helper process printed nothing"
    return h.proc.stdout.readline().decode().strip()


def wait_until(pred, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def spawn(helpers: list[Helper], script: str) -> Helper:
    h = Helper(script)
    helpers.append(h)
    return h


def test_limits_are_written_and_read_back(layout, cgroup_name):
    if not all(layout.has_v1(c) or layout.has_v2(c) for c in ("memory", "pids", "cpu")):
        pytest.skip("memory, pids and cpu controllers are needed")
    res = {"memory": {"limit": 64 << 20, "reservation": 32 << 20}, "pids": {"limit": 20},
           "cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    cg = Cgroup.create(layout, cgroup_name, res)
    assert all(d.is_dir() for d in cg.dirs())
    if cg.version_of("memory") == 1:
        assert read(cg, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert read(cg, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
        assert read(cg, "cpu", "cpu.shares") == "512"
        assert read(cg, "cpu", "cpu.cfs_quota_us") == "50000"
    else:
        assert read(cg, "memory", "memory.max") == str(64 << 20)
        assert read(cg, "cpu", "cpu.weight") == "59"
        assert read(cg, "cpu", "cpu.max") == "50000 100000"
    assert read(cg, "pids", "pids.max") == "20"

    cg.update({"memory": {"limit": 128 << 20}, "pids": {"limit": -1}, "cpu": {"quota": -1}})
    mem_file = "memory.limit_in_bytes" if cg.version_of("memory") == 1 else "memory.max"
    assert read(cg, "memory", mem_file) == str(128 << 20)
    assert read(cg, "pids", "pids.max") == "max"
    cg.destroy()
    assert not cg.exists()


def test_memory_and_swap_update_in_either_direction(layout, cgroup_name):
    if not layout.has_v1("memory"):
        pytest.skip("memory+swap ordering is a cgroup v1 matter")
    cg = Cgroup.create(layout, cgroup_name, {})
    if not (cg.v1_dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
        with pytest.raises(InvalidSpec, match="--memory-swap: this kernel has no swap accounting"):
            cg.update({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
        return
    for limit, swap in ((64 << 20, 128 << 20), (256 << 20, 512 << 20), (32 << 20, 32 << 20), (-1, -1)):
        cg.update({"memory": {"limit": limit, "swap": swap}})
        want = "9223372036854771712" if limit == -1 else str(limit)
        assert read(cg, "memory", "memory.limit_in_bytes") == want
        assert read(cg, "memory", "memory.memsw.limit_in_bytes") == ("9223372036854771712" if swap == -1 else str(swap))


def test_a_memory_hog_is_oom_killed(layout, cgroup_name, helpers):
    if not (layout.has_v1("memory") or layout.has_v2("memory")):
        pytest.skip("no memory controller")
    res = {"memory": {"limit": 32 << 20}}
    if layout.has_v1("memory") and os.path.exists(os.path.join(layout.v1["memory"], "memory.memsw.limit_in_bytes")):
        res["memory"]["swap"] = 32 << 20   # no swapping out of the limit
    cg = Cgroup.create(layout, cgroup_name, res)
    before = cg.oom_kill_count()
    hog = spawn(helpers, MEMORY_HOG)
    cg.add(hog.pid)
    hog.go()
    rc = hog.proc.wait(timeout=120)
    assert rc == -9
    assert cg.oom_killed_since(before)
    assert cg.stats()["oom_kills"] >= before + 1
    cg.destroy()


def test_a_fork_loop_stops_at_the_pids_limit(layout, cgroup_name, helpers):
    if not (layout.has_v1("pids") or layout.has_v2("pids")):
        pytest.skip("no pids controller")
    cg = Cgroup.create(layout, cgroup_name, {"pids": {"limit": 20}})
    loop = spawn(helpers, FORK_LOOP)
    cg.add(loop.pid)
    loop.go()
    forks, err = readline(loop).split()
    assert (int(forks), int(err)) == (19, 11)   # 20 with the parent; EAGAIN
    assert cg.stats()["pids"] == {"current": 20, "limit": 20}
    # the host still forks
    assert subprocess.run(["true"]).returncode == 0
    cg.destroy()
    assert loop.proc.wait(timeout=30) == -9
    assert not cg.exists()


def test_freeze_stops_a_busy_process_and_thaw_resumes_it(layout, cgroup_name, helpers):
    cg = Cgroup.create(layout, cgroup_name, {})
    busy = spawn(helpers, BUSY_LOOP)
    cg.add(busy.pid)
    busy.go()
    assert wait_until(lambda: busy.cpu_ticks() > 0)
    cg.freeze()
    assert cg.frozen()
    first = busy.cpu_ticks()
    time.sleep(0.5)
    assert busy.cpu_ticks() == first
    assert busy.state() != "R"
    cg.thaw()
    assert not cg.frozen()
    assert wait_until(lambda: busy.cpu_ticks() > first)
    # destroy thaws a frozen cgroup before killing it
    cg.freeze()
    cg.destroy()
    assert busy.proc.wait(timeout=30) == -9


def test_stats_of_a_running_process(layout, cgroup_name, helpers):
    cg = Cgroup.create(layout, cgroup_name, {})
    h = spawn(helpers, ALLOC_8M)
    cg.add(h.pid)
    h.go()
    assert readline(h) == "ok"
    s = cg.stats()
    assert s["pids"]["current"] == 1
    assert s["system_cpu_usage"] > 0 and s["online_cpus"] >= 1
    if s["memory"]["raw_usage"] is not None:
        assert s["memory"]["raw_usage"] >= 8 << 20
        assert 0 < s["memory"]["usage"] <= s["memory"]["raw_usage"]
        assert s["memory"]["limit"] > 0
    assert s["cpu"]["total_usage"] is not None and s["cpu"]["total_usage"] > 0
    assert cg.procs() == [h.pid]
    cg.destroy()


def test_a_refused_value_names_the_option_and_leaves_nothing(layout, cgroup_name):
    if not (layout.has_v1("cpuset") or layout.has_v2("cpuset")):
        pytest.skip("no cpuset controller")
    with pytest.raises(InvalidSpec, match="--cpuset-cpus"):
        Cgroup.create(layout, cgroup_name, {"cpu": {"cpus": "4000"}})
    assert not Cgroup(layout, cgroup_name).exists()


def test_create_refuses_a_cgroup_in_use(layout, cgroup_name, helpers):
    cg = Cgroup.create(layout, cgroup_name, {})
    h = spawn(helpers, BUSY_LOOP)
    cg.add(h.pid)
    with pytest.raises(Conflict):
        Cgroup.create(layout, cgroup_name, {})
    assert cg.procs() == [h.pid]
    cg.destroy()
    cg.destroy()  # already gone: no error
    Cgroup(layout, cgroup_name + "-never").destroy()


def test_v1_devices_cgroup_enforces_the_default_rules(layout, cgroup_name, helpers):
    if not layout.has_v1("devices"):
        pytest.skip("no v1 devices controller")
    cg = Cgroup.create(layout, cgroup_name, {"devices": default_device_rules()})
    assert "a *:* rwm" not in read(cg, "devices", "devices.list")
    probe = spawn(helpers, DEVICE_PROBE)
    cg.add(probe.pid)
    probe.go()
    assert readline(probe) == "ok 1"   # /dev/null opens, /dev/kmsg: EPERM
    cg.destroy()


# --- cgroup2: whatever hierarchy can be had ------------------------------------------------

def test_v2_procs_freeze_thaw_destroy(cgroup2_layout, cgroup_name, helpers):
    cg = Cgroup.create(cgroup2_layout, cgroup_name, {})
    assert cg.dirs() == [cg.v2_dir] and cg.v2_dir.is_dir()
    busy = spawn(helpers, BUSY_LOOP)
    cg.add(busy.pid)
    busy.go()
    assert cg.procs() == [busy.pid]
    assert wait_until(lambda: busy.cpu_ticks() > 0)
    cg.freeze()
    assert cg.frozen()
    assert "frozen 1" in (cg.v2_dir / "cgroup.events").read_text()
    first = busy.cpu_ticks()
    time.sleep(0.5)
    assert busy.cpu_ticks() == first
    cg.thaw()
    assert not cg.frozen()
    assert wait_until(lambda: busy.cpu_ticks() > first)
    cg.destroy()
    assert busy.proc.wait(timeout=30) == -9
    assert not cg.v2_dir.exists()


def test_v2_controllers(cgroup2_layout, cgroup_name):
    ctrls = set(cgroup2_layout.v2_controllers)
    res: dict = {}
    if "memory" in ctrls:
        res["memory"] = {"limit": 64 << 20}
    if "pids" in ctrls:
        res["pids"] = {"limit": 30}
    if "cpu" in ctrls:
        res["cpu"] = {"shares": 1024, "quota": 20000, "period": 100000}
    if "hugetlb" in ctrls and os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        res["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 << 20}]
    if not res:
        pytest.skip(f"the cgroup2 hierarchy at {cgroup2_layout.v2} has no usable controller "
                    "(a hybrid host keeps them all on v1)")
    cg = Cgroup.create(cgroup2_layout, cgroup_name, res)
    d = cg.v2_dir
    if "memory" in res:
        assert (d / "memory.max").read_text().strip() == str(64 << 20)
    if "pids" in res:
        assert (d / "pids.max").read_text().strip() == "30"
    if "cpu" in res:
        assert (d / "cpu.weight").read_text().strip() == "100"
        assert (d / "cpu.max").read_text().strip() == "20000 100000"
    if "hugepageLimits" in res:
        assert (d / "hugetlb.2MB.max").read_text().strip() == str(4 << 20)
    cg.destroy()


def test_v2_device_filter_is_an_ebpf_program(cgroup2_layout, cgroup_name, helpers):
    cg = Cgroup.create(cgroup2_layout, cgroup_name, {"devices": default_device_rules()})
    assert bpfdev.attached_count(cg.v2_dir) == 1
    probe = spawn(helpers, DEVICE_PROBE)
    cg.add(probe.pid)
    probe.go()
    assert readline(probe) == "ok 1"
    probe.proc.wait(timeout=30)
    # an update replaces the program: still one, and now /dev/kmsg opens
    cg.update({"devices": [{"allow": True, "access": "rwm"}]})
    assert bpfdev.attached_count(cg.v2_dir) == 1
    probe2 = spawn(helpers, DEVICE_PROBE)
    cg.add(probe2.pid)
    probe2.go()
    assert readline(probe2) == "ok ok"
    cg.destroy()


def test_an_empty_leftover_is_replaced_without_its_old_limits(layout, cgroup_name):
    if not layout.has_v1("pids") and not layout.has_v2("pids"):
        pytest.skip("no pids controller")
    Cgroup.create(layout, cgroup_name, {"pids": {"limit": 7}})   # as a crashed run would leave it
    cg = Cgroup.create(layout, cgroup_name, {})
    assert read(cg, "pids", "pids.max") == "max"
    cg.destroy()
