"""Capability policy (names, Docker's rules, the OCI shape) and the security defaults built on it."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.runtime import caps, defaults


def test_names_and_numbers_follow_the_kernel_header():
    assert caps.cap_number("CAP_CHOWN") == 0
    assert caps.cap_number("net_admin") == 12
    assert caps.cap_number("Sys_Admin") == 21
    assert caps.cap_name(39) == "CAP_BPF"
    assert caps.cap_name(63) == "CAP_63"
    assert len(caps.CAP_NAMES) == len(set(caps.CAP_NAMES)) == 41


def test_all_stops_at_the_kernels_last_cap(monkeypatch):
    monkeypatch.setattr(caps, "last_cap", lambda: 37)
    assert caps.all_caps()[-1] == "CAP_AUDIT_READ"
    with pytest.raises(InvalidSpec, match="not supported by your kernel.*bpf"):
        caps.normalize("bpf")


@pytest.mark.parametrize("name", ["CAP_FOO", "foo", "", "ALLL"])
def test_unknown_capabilities_are_named(name):
    with pytest.raises(InvalidSpec) as ei:
        caps.resolve(cap_add=[name])
    assert repr(name) in str(ei.value)


def test_default_set_is_dockers():
    assert caps.resolve() == list(caps.DEFAULT_CAPS)
    assert len(caps.DEFAULT_CAPS) == 14
    assert "CAP_NET_ADMIN" not in caps.DEFAULT_CAPS and "CAP_SYS_ADMIN" not in caps.DEFAULT_CAPS


def test_add_and_drop():
    got = caps.resolve(cap_add=["net_admin", "CAP_NET_ADMIN", "chown"], cap_drop=["MKNOD", "cap_kill"])
    assert "CAP_NET_ADMIN" in got and got.count("CAP_NET_ADMIN") == 1
    assert "CAP_MKNOD" not in got and "CAP_KILL" not in got
    assert got.count("CAP_CHOWN") == 1


def test_all_rules():
    assert caps.resolve(cap_add=["ALL"]) == caps.all_caps()
    assert "CAP_SYS_ADMIN" not in caps.resolve(cap_add=["all"], cap_drop=["SYS_ADMIN"])
    assert caps.resolve(cap_add=["NET_BIND_SERVICE"], cap_drop=["ALL"]) == ["CAP_NET_BIND_SERVICE"]
    assert caps.resolve(cap_drop=["ALL"]) == []
    assert caps.resolve(privileged=True, cap_drop=["ALL"]) == caps.all_caps()


def test_oci_shape_as_docker_writes_it():
    oci = caps.oci_capabilities(caps.DEFAULT_CAPS)
    assert oci["bounding"] == oci["effective"] == oci["permitted"] == list(caps.DEFAULT_CAPS)
    assert oci["inheritable"] == [] and oci["ambient"] == []


def test_ambient_needs_the_cap_and_goes_to_inheritable():
    oci = caps.oci_capabilities(["CAP_NET_BIND_SERVICE", "CAP_CHOWN"], ambient=["net_bind_service"])
    assert oci["ambient"] == oci["inheritable"] == ["CAP_NET_BIND_SERVICE"]
    with pytest.raises(InvalidSpec, match="CAP_NET_ADMIN"):
        caps.oci_capabilities(["CAP_CHOWN"], ambient=["NET_ADMIN"])


def test_masks():
    assert caps._mask(["CAP_CHOWN", "CAP_KILL"]) == 0b100001
    assert caps._mask(["CAP_BPF"]) == 1 << 39


# --- security defaults --------------------------------------------------------------------

def test_security_opts_forms():
    o = defaults.parse_security_opts(["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined"])
    assert o.no_new_privileges and o.seccomp == "unconfined" and o.apparmor == "unconfined"
    assert defaults.parse_security_opts(["no-new-privileges:false"]).no_new_privileges is False
    assert defaults.parse_security_opts(["seccomp:builtin"]).seccomp == "default"
    assert defaults.parse_security_opts(["systempaths=unconfined"]).systempaths_unconfined
    assert defaults.SecurityOpts.from_dict(o.to_dict()) == o


@pytest.mark.parametrize("opt", ["bogus=1", "no-new-privileges=maybe", "seccomp=", "systempaths=open", "x"])
def test_bad_security_opts(opt):
    with pytest.raises(InvalidSpec, match="--security-opt"):
        defaults.parse_security_opts([opt])


def test_default_security_spec():
    s = defaults.security_spec(arch="x86_64")
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["process"]["noNewPrivileges"] is False
    assert s["process"]["capabilities"]["bounding"] == list(caps.DEFAULT_CAPS)
    assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    paths = [d["path"] for d in s["linux"]["devices"]]
    assert paths == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
    assert all(d["fileMode"] == 0o666 and d["uid"] == 0 for d in s["linux"]["devices"])
    assert s["linux"]["resources"]["devices"][0] == {"allow": False, "type": "a", "access": "rwm"}
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sys_mount["options"]


def test_tty_adds_the_console():
    s = defaults.security_spec(tty=True, arch="x86_64")
    assert s["linux"]["devices"][-1]["path"] == "/dev/console"


def test_privileged_lifts_everything():
    s = defaults.security_spec(privileged=True)
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert "seccomp" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "type": "a", "access": "rwm"}]
    assert s["process"]["capabilities"]["bounding"] == caps.all_caps()
    assert "/dev/null" in [d["path"] for d in s["linux"]["devices"]]
    assert "ro" not in next(m for m in s["mounts"] if m["destination"] == "/sys")["options"]


def test_unconfined_and_systempaths():
    s = defaults.security_spec(security_opt=["seccomp=unconfined", "systempaths=unconfined"])
    assert "seccomp" not in s["linux"] and s["linux"]["maskedPaths"] == []


def test_seccomp_follows_cap_add():
    names = {n for r in defaults.security_spec(cap_add=["SYS_ADMIN"], arch="x86_64")["linux"]["seccomp"]["syscalls"]
             for n in r["names"]}
    assert {"mount", "unshare", "setns"} <= names


def test_masked_paths_include_thermal_throttle(tmp_path):
    d = tmp_path / "devices/system/cpu/cpu0/thermal_throttle"
    d.mkdir(parents=True)
    assert defaults.masked_paths(str(tmp_path))[-1] == "/sys/devices/system/cpu/cpu0/thermal_throttle"
