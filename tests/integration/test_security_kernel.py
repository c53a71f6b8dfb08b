"""Capabilities and seccomp against the real kernel, as root.

Every restriction is applied in a child Python process (then usually an exec of busybox), never
in the test process: the child applies exactly what the launcher applies, in the launcher's
order, and reports what the kernel then allows."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
from ansible_collections.berth.engine.plugins.module_utils.runtime import caps, defaults, seccomp

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
X86_64 = platform.machine() == "x86_64"

# The child: optional no_new_privs, seccomp (before or after the capabilities, as asked),
# capabilities and identity, then raw syscalls (reported as errno, 0 for success) or an exec.
CHILD = r"""
import ctypes, json, os, sys
from ansible_collections.berth.engine.plugins.module_utils.runtime import caps, seccomp
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
if cfg.get("nnp"):
    assert libc.prctl(38, 1, 0, 0, 0) == 0
if cfg.get("seccomp_first"):
    seccomp.apply(cfg.get("seccomp"))
if "caps" in cfg:
    caps.apply(cfg["caps"], uid=cfg.get("uid", 0), gid=cfg.get("gid"), additional_gids=cfg.get("groups"))
if not cfg.get("seccomp_first"):
    seccomp.apply(cfg.get("seccomp"))
if cfg.get("probe"):
    out = {}
    for name, nr, args in cfg["probe"]:
        rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
        out[name] = 0 if rc >= 0 else ctypes.get_errno()
    print(json.dumps(out), flush=True)
if cfg.get("exec"):
    os.execv(cfg["exec"][0], cfg["exec"])
"""

# x86_64 syscall numbers, with arguments that make each call fail harmlessly when allowed
PROBES = [
    ("getpid", 39, []),
    ("unshare_user", 272, [0x10000000]),
    ("mount", 165, [0, 0, 0, 0, 0]),
    ("keyctl", 250, [-1, 0, 0, 0, 0]),
    ("add_key", 248, [0, 0, 0, 0, 0]),
    ("setns", 308, [-1, 0]),
    ("clone3", 435, [0, 0]),
    ("mseal", 462, [0, 0, 0]),
]


def child(cfg: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True,
                          timeout=60)


def probe(cfg: dict) -> dict:
    r = child({**cfg, "probe": PROBES})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def status(cfg: dict) -> dict[str, str]:
    r = child({**cfg, "exec": [BUSYBOX, "cat", "/proc/self/status"]})
    assert r.returncode == 0, r.stderr
    return dict(line.split(":\t", 1) for line in r.stdout.splitlines() if ":\t" in line)


def capset_of(st: dict[str, str], key: str) -> set[str]:
    mask = int(st[key].strip(), 16)
    return {caps.cap_name(n) for n in range(mask.bit_length()) if mask >> n & 1}


def default_seccomp(extra_caps: list[str] | None = None) -> dict:
    return seccomp.default_profile(list(caps.DEFAULT_CAPS) + (extra_caps or []))


@pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")
def test_default_profile_blocks_privileged_syscalls_even_for_full_root():
    free = probe({})
    assert free["unshare_user"] == 0 and free["mount"] not in (0, 1) and free["keyctl"] != 1
    # the same child, still root with every capability, but under the default profile
    got = probe({"seccomp": default_seccomp(), "seccomp_first": True})
    assert got["getpid"] == 0
    for name in ("unshare_user", "mount", "keyctl", "add_key", "setns"):
        assert got[name] == 1, name                    # EPERM
    assert got["clone3"] == 38                         # ENOSYS: glibc falls back to clone
    assert got["mseal"] == 38                          # newer than the profile: ENOSYS, not EPERM


@pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")
def test_cap_sys_admin_reopens_the_namespace_syscalls():
    got = probe({"seccomp": default_seccomp(["CAP_SYS_ADMIN"]), "seccomp_first": True})
    assert got["unshare_user"] == 0 and got["mount"] != 1 and got["clone3"] != 38
    assert got["keyctl"] == 1                          # never allowed by the default profile


def test_commands_under_default_caps_and_seccomp(tmp_path):
    spec = defaults.security_spec()
    cfg = {"seccomp": spec["linux"]["seccomp"], "seccomp_first": True, "caps": spec["process"]["capabilities"]}
    r = child({**cfg, "exec": [BUSYBOX, "unshare", "--user", "true"]})
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    target = tmp_path / "m"
    target.mkdir()
    r = child({**cfg, "exec": [BUSYBOX, "mount", "-t", "tmpfs", "none", str(target)]})
    assert r.returncode != 0 and "permission denied" in r.stderr.lower()   # busybox's words for EPERM
    assert not os.path.ismount(target)
    r = child({**cfg, "exec": [BUSYBOX, "hostname", "berth-should-not"]})
    assert r.returncode != 0
    # ordinary work goes on: a shell, files, pipes, processes
    r = child({**cfg, "exec": [BUSYBOX, "sh", "-c",
                               f"echo hello > {tmp_path}/f && cat {tmp_path}/f | tr a-z A-Z && ls / >/dev/null"]})
    assert r.returncode == 0 and r.stdout.strip() == "HELLO", r.stderr
    st = status(cfg)
    assert st["Seccomp"].strip() == "2"
    assert "CAP_NET_ADMIN" not in capset_of(st, "CapEff")
    assert capset_of(st, "CapEff") == capset_of(st, "CapBnd") == set(caps.DEFAULT_CAPS)


def test_cap_add_net_admin_brings_it_back():
    spec = defaults.security_spec(cap_add=["net_admin"], cap_drop=["MKNOD"])
    st = status({"seccomp": spec["linux"]["seccomp"], "seccomp_first": True,
                 "caps": spec["process"]["capabilities"]})
    eff = capset_of(st, "CapEff")
    assert "CAP_NET_ADMIN" in eff and "CAP_MKNOD" not in eff and "CAP_CHOWN" in eff


def test_non_root_user_has_no_effective_caps_unless_ambient():
    oci = caps.oci_capabilities(caps.DEFAULT_CAPS)
    st = status({"caps": oci, "uid": 1000, "gid": 1000, "groups": []})
    assert st["Uid"].split()[:2] == ["1000", "1000"] and st["Gid"].split()[0] == "1000"
    assert capset_of(st, "CapEff") == set() and capset_of(st, "CapPrm") == set()
    assert capset_of(st, "CapBnd") == set(caps.DEFAULT_CAPS)
    oci = caps.oci_capabilities(caps.DEFAULT_CAPS, ambient=["NET_BIND_SERVICE"])
    st = status({"caps": oci, "uid": 1000, "gid": 1000, "groups": [50]})
    assert capset_of(st, "CapEff") == {"CAP_NET_BIND_SERVICE"} == capset_of(st, "CapAmb")
    assert st["Groups"].split() == ["50"]


def test_seccomp_unconfined_installs_nothing():
    spec = defaults.security_spec(security_opt=["seccomp=unconfined"])
    assert "seccomp" not in spec["linux"]
    st = status({"seccomp": spec["linux"].get("seccomp"), "caps": spec["process"]["capabilities"]})
    assert st["Seccomp"].strip() == "0"


def test_privileged_gets_every_cap_the_engine_has():
    spec = defaults.security_spec(privileged=True)
    st = status({"seccomp": spec["linux"].get("seccomp"), "caps": spec["process"]["capabilities"]})
    assert st["Seccomp"].strip() == "0"
    assert capset_of(st, "CapEff") == set(caps.current()["bounding"])


def test_without_no_new_privs_the_filter_must_come_before_dropping_caps():
    spec = defaults.security_spec()
    late = {"seccomp": spec["linux"]["seccomp"], "caps": spec["process"]["capabilities"],
            "exec": [BUSYBOX, "true"]}
    r = child(late)
    assert r.returncode != 0 and "no_new_privs" in r.stderr
    st = status({**late, "nnp": True})
    assert st["NoNewPrivs"].strip() == "1" and st["Seccomp"].strip() == "2"


def test_a_docker_format_profile_file(tmp_path):
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))
    spec = defaults.security_spec(security_opt=[f"seccomp={profile}"])
    cfg = {"seccomp": spec["linux"]["seccomp"], "seccomp_first": True, "caps": spec["process"]["capabilities"]}
    r = child({**cfg, "exec": [BUSYBOX, "mkdir", str(tmp_path / "d")]})
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert not (tmp_path / "d").exists()
    r = child({**cfg, "exec": [BUSYBOX, "touch", str(tmp_path / "f")]})
    assert r.returncode == 0 and (tmp_path / "f").exists()


def test_the_test_process_itself_is_unrestricted():
    with open("/proc/self/status") as f:
        assert "Seccomp:\t0" in f.read()
    assert "CAP_SYS_ADMIN" in caps.current()["effective"]
    assert os.getuid() == 0
