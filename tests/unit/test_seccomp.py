"""The default seccomp profile and the Docker-format profile converter (no filter is loaded here:
loading happens in child processes, in tests/integration/test_security_kernel.py)."""
from __future__ import annotations

import errno
import json

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.runtime import caps, seccomp

DEFAULT = list(caps.DEFAULT_CAPS)


def names(profile: dict) -> set[str]:
    return {n for r in profile["syscalls"] for n in r["names"]}


def rules_for(profile: dict, name: str) -> list[dict]:
    return [r for r in profile["syscalls"] if name in r["names"]]


def test_default_shape_on_amd64():
    p = seccomp.default_profile(DEFAULT, arch="x86_64", kernel="6.1.0")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == errno.EPERM
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    n = names(p)
    assert {"read", "write", "execve", "futex", "arch_prctl", "modify_ldt", "ptrace", "chroot"} <= n
    # privileged syscalls stay out without their capability
    for denied in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot",
                   "init_module", "kexec_load", "open_by_handle_at", "settimeofday", "acct", "iopl",
                   "perf_event_open", "syslog", "vhangup", "mbind"):
        assert denied not in n, denied
    # arch-specific rules for other machines are left out
    assert "cacheflush" not in n and "s390_runtime_instr" not in n


def test_clone_is_namespace_free_and_clone3_gives_enosys():
    p = seccomp.default_profile(DEFAULT, arch="x86_64")
    (clone,) = rules_for(p, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = rules_for(p, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == errno.ENOSYS


def test_personality_and_socket_arguments():
    p = seccomp.default_profile(DEFAULT, arch="x86_64")
    personas = sorted(r["args"][0]["value"] for r in rules_for(p, "personality"))
    assert personas == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    (sock,) = rules_for(p, "socket")
    assert sock["args"] == [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]


def test_sys_admin_opens_mount_and_namespaces():
    p = seccomp.default_profile(DEFAULT + ["CAP_SYS_ADMIN"], arch="x86_64")
    assert {"mount", "umount2", "unshare", "setns", "sethostname", "bpf", "perf_event_open"} <= names(p)
    # clone without restriction, and no ENOSYS clone3
    assert all("args" not in r for r in rules_for(p, "clone"))
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in rules_for(p, "clone3"))


@pytest.mark.parametrize("cap,syscalls", [
    ("CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise"}),
    ("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
    ("CAP_SYS_TIME", {"settimeofday", "clock_settime"}),
    ("CAP_SYS_BOOT", {"reboot"}),
    ("CAP_SYSLOG", {"syslog"}),
    ("CAP_SYS_NICE", {"mbind", "set_mempolicy"}),
    ("CAP_SYS_RAWIO", {"iopl", "ioperm"}),
    ("CAP_SYS_PACCT", {"acct"}),
    ("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}),
    ("CAP_BPF", {"bpf"}),
    ("CAP_PERFMON", {"perf_event_open"}),
    ("sys_tty_config", {"vhangup"}),
])
def test_capability_conditional_rules(cap, syscalls):
    assert not syscalls & names(seccomp.default_profile(DEFAULT, arch="x86_64"))
    assert syscalls <= names(seccomp.default_profile(DEFAULT + [cap], arch="x86_64"))


def test_other_architectures():
    p = seccomp.default_profile(DEFAULT, arch="aarch64")
    assert p["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert {"cacheflush", "set_tls"} <= names(p) and "arch_prctl" not in names(p)
    s390 = seccomp.default_profile(DEFAULT, arch="s390x")
    assert rules_for(s390, "clone")[0]["args"][0]["index"] == 1


def test_min_kernel():
    old = seccomp.default_profile(DEFAULT, arch="x86_64", kernel="4.4.0")
    assert "ptrace" not in names(old)
    assert "ptrace" in names(seccomp.default_profile(DEFAULT, arch="x86_64", kernel="4.8.0"))


def test_docker_file_round_trip(tmp_path):
    f = tmp_path / "default.json"
    f.write_text(json.dumps(seccomp.docker_default_profile()))
    assert seccomp.load_docker_profile(str(f), DEFAULT, "x86_64") == seccomp.default_profile(DEFAULT, "x86_64")
    text = json.dumps(seccomp.docker_default_profile())
    assert seccomp.load_docker_profile(text, DEFAULT, "x86_64") == seccomp.default_profile(DEFAULT, "x86_64")


def test_custom_profile_fields():
    p = seccomp.load_docker_profile({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                     {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 0o777, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                     {"names": ["reboot"], "action": "SCMP_ACT_KILL", "includes": {"caps": ["CAP_SYS_BOOT"]}}],
    }, DEFAULT, "x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ALLOW" and p["architectures"] == ["SCMP_ARCH_X86_64"]
    assert p["syscalls"][0] == {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
    assert p["syscalls"][1]["args"][0]["valueTwo"] == 0
    assert len(p["syscalls"]) == 2


@pytest.mark.parametrize("profile,where", [
    ({"syscalls": []}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "architectures"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}, "architectures[0]"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0]"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]},
     "syscalls[0].action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]},
     "syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"kernel": "5"}}]},
     "syscalls[0].includes"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}, "flags"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x.sock"}, "listenerPath"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultErrnoRet"),
])
def test_bad_profiles_name_the_field(profile, where):
    with pytest.raises(InvalidSpec) as ei:
        seccomp.load_docker_profile(profile, DEFAULT, "x86_64")
    assert where in str(ei.value)


def test_bad_files(tmp_path):
    with pytest.raises(InvalidSpec, match="No such file"):
        seccomp.load_docker_profile(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidSpec, match="invalid JSON"):
        seccomp.load_docker_profile(str(bad))
    with pytest.raises(InvalidSpec, match="JSON object"):
        seccomp.load_docker_profile("[]")


def test_unknown_architecture():
    with pytest.raises(InvalidSpec, match="vax"):
        seccomp.default_profile(DEFAULT, arch="vax")


def test_repeated_argument_index_means_any_of():
    args = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]
    assert seccomp._arg_groups(args) == [[args[0]], [args[1]]]
    both = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]
    assert seccomp._arg_groups(both) == [both]


def test_enosys_stub_program():
    stub = seccomp._enosys_stub(456, "amd64")
    assert stub is not None and len(stub) == 7 * 8
    assert seccomp._enosys_stub(456, "mips64le") is None
