"""Pure cgroup logic: layout detection, the per-version plans, Docker's option rules, the
device filter's semantics, and the stats parsers."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec, RuntimeFailure
from ansible_collections.berth.engine.plugins.module_utils.runtime.cgroups import (
    CgroupLayout,
    bpfdev,
    check_name,
    docker_resources,
    plan,
    plan_v1,
    plan_v2,
    shares_to_weight,
    stats,
    weight_to_shares,
)
from ansible_collections.berth.engine.plugins.module_utils.runtime.cgroups.layout import (
    layout_from_mounts,
    parse_mountinfo,
)
from ansible_collections.berth.engine.plugins.module_utils.runtime.cgroups.plan import Write, order_v1_memory
from ansible_collections.berth.engine.plugins.module_utils.runtime.defaults import default_device_rules

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V1 = """\
25 20 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid shared:14 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/freezer rw,nosuid shared:15 - cgroup cgroup rw,freezer
"""
PURE_V2 = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
ALL_V2 = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids")


def v1_layout() -> CgroupLayout:
    return layout_from_mounts(parse_mountinfo(PURE_V1))


def v2_layout(ctrls: tuple[str, ...] = ALL_V2) -> CgroupLayout:
    return layout_from_mounts(parse_mountinfo(PURE_V2), ctrls)


def hybrid_layout(v2_ctrls: tuple[str, ...] = ()) -> CgroupLayout:
    return layout_from_mounts(parse_mountinfo(HYBRID), v2_ctrls)


# --- layout -------------------------------------------------------------------------------

def test_detects_this_machine_kinds_hybrid_layout():
    lay = hybrid_layout(("hugetlb",))
    assert lay.mode == "hybrid"
    assert lay.v1["memory"] == "/sys/fs/cgroup/memory"
    assert "systemd" not in lay.v1 and "name=systemd" not in lay.v1
    assert lay.v2 == "/sys/fs/cgroup/unified"
    assert lay.has_v2("hugetlb") and not lay.has_v2("memory")


def test_detects_pure_v1_with_co_mounted_controllers():
    lay = v1_layout()
    assert lay.mode == "v1" and lay.v2 is None
    assert lay.v1["cpu"] == lay.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"


def test_detects_pure_v2():
    lay = v2_layout()
    assert lay.mode == "v2" and lay.v1 == {} and lay.v2 == "/sys/fs/cgroup"
    assert lay.has_v2("memory")


def test_v2_controllers_held_by_v1_are_not_counted_twice():
    lay = hybrid_layout(("memory", "hugetlb"))
    assert lay.v2_controllers == ("hugetlb",)


def test_mount_points_with_escaped_spaces():
    text = "41 31 0:38 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n"
    assert parse_mountinfo(text) == [("/mnt/cg two", "cgroup2", "rw")]


def test_no_cgroups_is_a_clear_error():
    with pytest.raises(RuntimeFailure, match="no cgroup hierarchy"):
        layout_from_mounts(parse_mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"))


def test_layout_round_trips_through_dict():
    lay = hybrid_layout(("hugetlb",))
    assert CgroupLayout.from_dict(lay.to_dict()) == lay


@pytest.mark.parametrize("name", ["", "/", "../x", "berth/../../etc", "berth/a b", "a/./b"])
def test_bad_cgroup_names(name):
    with pytest.raises(InvalidSpec):
        check_name(name)


def test_cgroup_names_are_normalised():
    assert check_name("/berth/abc123/") == "berth/abc123"


# --- v1 plans -----------------------------------------------------------------------------

def test_v1_memory_files_and_unlimited():
    w = plan_v1({"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20}})
    assert ("memory", "memory.limit_in_bytes", str(64 << 20)) in w
    # v1 memsw is the memory+swap total, exactly as docker's --memory-swap
    assert ("memory", "memory.memsw.limit_in_bytes", str(128 << 20)) in w
    assert ("memory", "memory.soft_limit_in_bytes", str(32 << 20)) in w
    w = plan_v1({"memory": {"limit": -1}})
    # unlimited memory implies unlimited memory+swap, or the kernel would refuse the pair
    assert w == [("memory", "memory.limit_in_bytes", "-1"), ("memory", "memory.memsw.limit_in_bytes", "-1")]


def test_v1_swap_below_memory_names_the_option():
    with pytest.raises(InvalidSpec, match="--memory-swap"):
        plan_v1({"memory": {"limit": 64 << 20, "swap": 32 << 20}})


def test_v1_oom_kill_disable_and_swappiness():
    w = plan_v1({"memory": {"disableOOMKiller": True, "swappiness": 10}})
    assert ("memory", "memory.oom_control", "1") in w
    assert ("memory", "memory.swappiness", "10") in w
    with pytest.raises(InvalidSpec, match="--memory-swappiness"):
        plan_v1({"memory": {"swappiness": 101}})


def test_v1_cpu_files():
    w = plan_v1({"cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1", "mems": "0"}})
    assert w == [("cpu", "cpu.shares", "512"), ("cpu", "cpu.cfs_period_us", "100000"),
                 ("cpu", "cpu.cfs_quota_us", "150000"), ("cpuset", "cpuset.cpus", "0-1"),
                 ("cpuset", "cpuset.mems", "0")]
    assert ("cpu", "cpu.cfs_quota_us", "-1") in plan_v1({"cpu": {"quota": -1}})
    w = plan_v1({"cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000}})
    assert [f for _c, f, _v in w] == ["cpu.rt_period_us", "cpu.rt_runtime_us"]


@pytest.mark.parametrize("cpu,option", [({"quota": 500}, "--cpu-quota"), ({"period": 999}, "--cpu-period"),
                                        ({"period": 2000000}, "--cpu-period"), ({"cpus": "0-a"}, "--cpuset-cpus"),
                                        ({"shares": "1024"}, "--cpu-shares")])
def test_cpu_values_checked(cpu, option):
    with pytest.raises(InvalidSpec, match=option):
        plan_v1({"cpu": cpu})


@pytest.mark.parametrize("limit,value", [(20, "20"), (-1, "max"), (0, "max")])
def test_pids_limit(limit, value):
    assert plan_v1({"pids": {"limit": limit}}) == [("pids", "pids.max", value)]
    assert plan_v2({"pids": {"limit": limit}}) == [("pids.max", value)]


def test_v1_blkio():
    lay = v1_layout()
    lay = CgroupLayout("v1", {**lay.v1, "blkio": "/sys/fs/cgroup/blkio"})
    writes = plan(lay, {"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]}}).writes
    assert writes[0].file == "blkio.weight" and writes[0].alternative == ("blkio.bfq.weight", "300")
    assert writes[1][2:4] == ("blkio.throttle.read_bps_device", "8:0 1024")
    with pytest.raises(InvalidSpec, match="--blkio-weight"):
        plan_v1({"blockIO": {"weight": 5}})


def test_v1_device_rules_as_the_devices_files_take_them():
    w = plan_v1({"devices": [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "wr"},
                             {"allow": True, "type": "c", "major": 136, "access": "rwm"}]})
    assert w == [("devices", "devices.deny", "a *:* rwm"), ("devices", "devices.allow", "c 1:3 rw"),
                 ("devices", "devices.allow", "c 136:* rwm")]
    with pytest.raises(InvalidSpec, match="--device-cgroup-rule"):
        plan_v1({"devices": [{"allow": True, "type": "x"}]})
    with pytest.raises(InvalidSpec, match="access"):
        plan_v1({"devices": [{"allow": True, "access": "rwx"}]})


def test_unknown_resource_fields_are_refused():
    with pytest.raises(InvalidSpec, match="memroy"):
        plan_v1({"memroy": {}})
    with pytest.raises(InvalidSpec, match="--memory"):
        plan_v1({"memory": {"limit": "64m"}})


# --- v2 plans -----------------------------------------------------------------------------

def test_v2_memory_swap_is_swap_only():
    w = plan_v2({"memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20}})
    assert ("memory.max", str(64 << 20)) in w
    assert ("memory.swap.max", str(32 << 20)) in w
    assert ("memory.low", str(16 << 20)) in w
    assert ("memory.swap.max", "0") in plan_v2({"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    assert plan_v2({"memory": {"limit": 64 << 20, "swap": -1}}) == [("memory.max", str(64 << 20)),
                                                                    ("memory.swap.max", "max")]
    assert plan_v2({"memory": {"limit": -1}}) == [("memory.max", "max"), ("memory.swap.max", "max")]


def test_v2_swap_without_memory_is_refused():
    with pytest.raises(InvalidSpec, match="--memory-swap"):
        plan_v2({"memory": {"swap": 64 << 20}})


@pytest.mark.parametrize("mem,option", [({"disableOOMKiller": True}, "--oom-kill-disable"),
                                        ({"swappiness": 0}, "--memory-swappiness"),
                                        ({"kernel": 1 << 20}, "--kernel-memory")])
def test_v2_lacks_some_v1_knobs(mem, option):
    with pytest.raises(InvalidSpec, match=option):
        plan_v2({"memory": mem})


def test_v2_oom_kill_disable_false_is_fine():
    assert plan_v2({"memory": {"disableOOMKiller": False}}) == []


def test_v2_cpu():
    w = plan_v2({"cpu": {"shares": 1024, "quota": 50000, "period": 100000}})
    assert w == [("cpu.weight", "100"), ("cpu.max", "50000 100000")]
    assert plan_v2({"cpu": {"period": 100000}}) == [("cpu.max", "max 100000")]
    assert plan_v2({"cpu": {"quota": 20000}}) == [("cpu.max", "20000")]
    with pytest.raises(InvalidSpec, match="--cpu-rt-runtime"):
        plan_v2({"cpu": {"realtimeRuntime": 1000}})


@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 100), (2000, 170), (262144, 10000), (512, 59),
                                           (0, 0), (1, 1), (10**7, 10000)])
def test_shares_to_weight_as_runc_and_crun(shares, weight):
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("shares", [2, 100, 512, 1024, 2048, 4096, 262144])
def test_weight_back_to_shares(shares):
    back = weight_to_shares(shares_to_weight(shares))
    # weights are coarser than shares: the round trip lands within one weight step
    assert shares_to_weight(back) == shares_to_weight(shares)


def test_v2_blkio_prefers_bfq_then_io_weight():
    p = plan(v2_layout(), {"blockIO": {"weight": 500, "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]}})
    w = p.writes
    assert (w[0].file, w[0].value, w[0].alternative) == ("io.bfq.weight", "500", ("io.weight", "default 4950"))
    assert (w[1].file, w[1].value) == ("io.max", "8:0 wiops=max")


def test_v2_unified_passthrough():
    assert plan_v2({"unified": {"memory.high": "100000000"}}) == [("memory.high", "100000000")]
    with pytest.raises(InvalidSpec, match="cgroup.procs"):
        plan_v2({"unified": {"cgroup.procs": "1"}})
    with pytest.raises(InvalidSpec, match="unified"):
        plan_v1({"unified": {"memory.high": "1"}})


# --- choosing hierarchies -----------------------------------------------------------------

def test_hybrid_puts_controllers_where_they_are_mounted():
    res = {"memory": {"limit": 1 << 26}, "pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
           "devices": [{"allow": False, "access": "rwm"}]}
    p = plan(hybrid_layout(("hugetlb",)), res)
    by_file = {w.file: w for w in p.writes}
    assert by_file["memory.limit_in_bytes"].version == 1
    assert by_file["pids.max"].version == 1
    assert by_file["hugetlb.2MB.max"].version == 2     # only the cgroup2 tree has hugetlb here
    assert by_file["devices.deny"].version == 1
    assert p.bpf_devices is None


def test_hybrid_without_the_controller_anywhere_names_the_option():
    with pytest.raises(InvalidSpec, match="linux.resources.hugepageLimits.*hugetlb"):
        plan(hybrid_layout(), {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]})


def test_v2_device_rules_become_a_bpf_program():
    rules = [{"allow": False, "access": "rwm"}]
    p = plan(v2_layout(), {"devices": rules})
    assert p.writes == [] and p.bpf_devices == rules


def test_pure_v2_missing_controller_names_the_option():
    with pytest.raises(InvalidSpec, match="--cpuset-cpus"):
        plan(v2_layout(("cpu", "memory", "pids")), {"cpu": {"cpus": "0"}})
    # the same request is fine where cpuset is available
    assert plan(v2_layout(), {"cpu": {"cpus": "0"}}).writes[0].file == "cpuset.cpus"


def test_pure_v1_memory_and_oom_kill_disable():
    p = plan(v1_layout(), {"memory": {"limit": 1 << 26, "disableOOMKiller": True}})
    assert [w.file for w in p.writes] == ["memory.limit_in_bytes", "memory.oom_control"]


def test_nothing_asked_nothing_written():
    for lay in (v1_layout(), v2_layout(), hybrid_layout()):
        assert plan(lay, {}).writes == [] and plan(lay, None).bpf_devices is None


def test_v1_memory_write_order_follows_the_current_limit():
    writes = [Write(1, "memory", "memory.limit_in_bytes", str(100), "--memory"),
              Write(1, "memory", "memory.memsw.limit_in_bytes", str(200), "--memory-swap")]
    # fresh cgroup (unlimited): memory first, or memsw would drop below the memory limit
    assert order_v1_memory(writes, None)[0].file == "memory.limit_in_bytes"
    assert order_v1_memory(writes, 1 << 62)[0].file == "memory.limit_in_bytes"
    # raising from a lower current limit: memsw first
    assert order_v1_memory(writes, 50)[0].file == "memory.memsw.limit_in_bytes"
    unlimited = [writes[0], writes[1]._replace(value="-1")]
    assert order_v1_memory(unlimited, 50)[0].file == "memory.memsw.limit_in_bytes"


# --- docker's options ---------------------------------------------------------------------

def test_cpus_become_quota_over_100ms():
    assert docker_resources({"NanoCpus": 1_500_000_000}, ncpus=2)["cpu"] == {"period": 100000, "quota": 150000}
    assert docker_resources({"NanoCpus": 10_000_000}, ncpus=2)["cpu"]["quota"] == 1000


def test_cpus_checks():
    with pytest.raises(InvalidSpec, match="--cpus.*only 2 CPUs"):
        docker_resources({"NanoCpus": 3_000_000_000}, ncpus=2)
    with pytest.raises(InvalidSpec, match="Period"):
        docker_resources({"NanoCpus": 1_000_000_000, "CpuPeriod": 50000}, ncpus=2)


def test_memory_swap_defaults_to_twice_memory():
    r = docker_resources({"Memory": 64 << 20}, swap_accounting=True)
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert docker_resources({"Memory": 64 << 20, "MemorySwap": -1}, swap_accounting=True)["memory"]["swap"] == -1


def test_no_swap_accounting():
    # the implicit default is dropped, as docker does; an explicit request is refused
    assert docker_resources({"Memory": 64 << 20}, swap_accounting=False)["memory"] == {"limit": 64 << 20}
    with pytest.raises(InvalidSpec, match="--memory-swap: this kernel has no swap accounting"):
        docker_resources({"Memory": 64 << 20, "MemorySwap": 128 << 20}, swap_accounting=False)


@pytest.mark.parametrize("hc,option", [({"Memory": 1 << 20}, "--memory"),
                                       ({"MemorySwap": 64 << 20}, "--memory-swap"),
                                       ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "--memory-swap"),
                                       ({"Memory": 64 << 20, "MemoryReservation": 128 << 20}, "--memory-reservation"),
                                       ({"MemorySwappiness": 200}, "--memory-swappiness"),
                                       ({"BlkioWeight": 5000}, "--blkio-weight"),
                                       ({"CpuShares": -5}, "--cpu-shares"),
                                       ({"BlkioDeviceReadBps": [{"Path": "/nonexistent", "Rate": 1}]},
                                        "--device-read-bps")])
def test_docker_option_errors_name_the_flag(hc, option):
    with pytest.raises(InvalidSpec, match=option):
        docker_resources(hc, swap_accounting=True, ncpus=2)


def test_pids_limit_zero_is_unlimited():
    assert docker_resources({"PidsLimit": 0})["pids"] == {"limit": -1}
    assert docker_resources({"PidsLimit": 100})["pids"] == {"limit": 100}
    assert "pids" not in docker_resources({})


def test_docker_resources_feed_the_planners():
    r = docker_resources({"Memory": 64 << 20, "CpuShares": 512, "NanoCpus": 500_000_000, "PidsLimit": 20,
                          "CpusetCpus": "0"}, swap_accounting=True, ncpus=2)
    assert len(plan_v1(r)) == 7 and len(plan_v2(r)) == 6


# --- device filter semantics (the compiled eBPF, interpreted) ------------------------------

def test_default_rules_allow_the_default_devices_only():
    prog = bpfdev.compile_rules(default_device_rules())
    ev = bpfdev.evaluate
    assert ev(prog, "c", 1, 3, "rw")           # /dev/null
    assert ev(prog, "c", 1, 9, "r")            # /dev/urandom
    assert ev(prog, "c", 136, 4, "rw")         # a pts
    assert ev(prog, "c", 5, 2, "rw")           # ptmx
    assert not ev(prog, "b", 8, 0, "r")        # a disk
    assert not ev(prog, "c", 1, 11, "w")       # /dev/kmsg
    assert not ev(prog, "c", 10, 229, "rw")    # /dev/fuse
    assert ev(prog, "b", 8, 0, "m")            # creating nodes is fine, opening them is not


def test_later_rules_win_and_access_must_be_covered():
    rules = [{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    prog = bpfdev.compile_rules(rules)
    assert bpfdev.evaluate(prog, "c", 1, 3, "r")
    assert not bpfdev.evaluate(prog, "c", 1, 3, "rw")   # asks for w, which is denied
    assert not bpfdev.evaluate(prog, "c", 1, 3, "w")
    assert bpfdev.evaluate(prog, "b", 7, 0, "rw")
    ro = bpfdev.compile_rules([{"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}])
    assert bpfdev.evaluate(ro, "c", 1, 5, "r") and not bpfdev.evaluate(ro, "c", 1, 5, "rw")


def test_empty_rules_deny_everything():
    prog = bpfdev.compile_rules([])
    assert not bpfdev.evaluate(prog, "c", 1, 3, "r")
    assert len(prog) == 7 * 8 + 2 * 8


# --- stats parsers ------------------------------------------------------------------------

def test_system_cpu_usage_sums_seven_fields(tmp_path):
    f = tmp_path / "stat"
    f.write_text("cpu  100 0 50 1000 10 0 5 7 0 0\ncpu0 50 0 25 500 5 0 2 3 0 0\n")
    import os
    assert stats.system_cpu_usage(str(f)) == 1165 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def test_keyed_files(tmp_path):
    f = tmp_path / "memory.events"
    f.write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n")
    assert stats.read_keyed(f)["oom_kill"] == 1
    g = tmp_path / "pids.max"
    g.write_text("max\n")
    assert stats.read_int(g) is None and stats.read_int(tmp_path / "missing") is None
