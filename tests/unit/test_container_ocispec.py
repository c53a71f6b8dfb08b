"""ContainerSpec + image config -> OCI runtime spec, with Docker's semantics."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers import ocispec
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import (
    ContainerSpec,
    Resources,
    Ulimit,
)
from ansible_collections.berth.engine.plugins.module_utils.containers.userdb import ExecUser
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.types import Mount

IMAGE = {"Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port", "80"], "Env": ["PATH=/opt/bin:/bin", "A=img"],
         "WorkingDir": "/app", "StopSignal": "SIGQUIT", "User": "daemon"}
SEC = {"capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
       "noNewPrivileges": False, "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}, "maskedPaths": ["/proc/kcore"],
       "readonlyPaths": ["/proc/sys"], "devices": [], "deviceCgroup": [{"allow": False, "access": "rwm"}]}
CID = "a" * 64


def spec(**kw):
    return ContainerSpec(image="img", **kw)


def build(s, image=IMAGE, **kw):
    inputs = ocispec.SpecInputs(cid=CID, rootfs="/merged", hostname="aaaaaaaaaaaa",
                                user=kw.pop("user", ExecUser(0, 0, (), "/root")), **kw)
    return ocispec.build_runtime_spec(s, image, inputs, security=SEC)


@pytest.mark.parametrize("kw,args", [
    ({}, ["/entry.sh", "serve", "--port", "80"]),
    ({"command": ("sh",)}, ["/entry.sh", "sh"]),
    ({"entrypoint": ("/bin/echo",)}, ["/bin/echo"]),               # --entrypoint drops the image's CMD
    ({"entrypoint": ("/bin/echo",), "command": ("hi",)}, ["/bin/echo", "hi"]),
    ({"entrypoint": ("",), "command": ("ls", "-l")}, ["ls", "-l"]),  # --entrypoint "" clears it
])
def test_entrypoint_and_cmd(kw, args):
    assert ocispec.process_args(spec(**kw), IMAGE) == args


def test_shell_form_and_no_command():
    assert ocispec.process_args(spec(), {"Cmd": "echo hi"}) == ["/bin/sh", "-c", "echo hi"]
    with pytest.raises(InvalidSpec, match="No command specified"):
        ocispec.process_args(spec(), {})
    with pytest.raises(InvalidSpec):
        ocispec.process_args(spec(entrypoint=()), {"Cmd": ["x"]})


def test_env_merge_order_and_defaults():
    s = spec(env=("A=user", "B=2"), tty=True)
    env = ocispec.process_env(s, IMAGE, "host1", "/root")
    assert env == ["PATH=/opt/bin:/bin", "HOSTNAME=host1", "TERM=xterm", "A=user", "B=2", "HOME=/root"]
    env = ocispec.process_env(spec(env=("HOME=/h",)), {}, "h", "/root")
    assert env[0] == f"PATH={ocispec.DEFAULT_PATH}" and "HOME=/h" in env and "HOME=/root" not in env
    assert ocispec.config_env(spec(), {}) == [f"PATH={ocispec.DEFAULT_PATH}"]


def test_workdir_stop_signal_user():
    assert ocispec.working_dir(spec(), IMAGE) == "/app"
    assert ocispec.working_dir(spec(working_dir="/w"), IMAGE) == "/w"
    assert ocispec.working_dir(spec(), {}) == "/"
    assert ocispec.stop_signal(spec(), IMAGE) == "SIGQUIT"
    assert ocispec.stop_signal(spec(stop_signal="kill"), IMAGE) == "SIGKILL"
    assert ocispec.stop_signal(spec(), {}) == "SIGTERM"
    assert ocispec.effective_user(spec(), IMAGE) == "daemon"
    assert ocispec.effective_user(spec(user="0"), IMAGE) == "0"


def test_full_spec_shape():
    files = {"/etc/hosts": "/r/hosts", "/etc/hostname": "/r/hostname", "/etc/resolv.conf": "/r/resolv.conf"}
    s = spec(read_only=True, tmpfs={"/run": "size=1m,exec"}, sysctls={"net.ipv4.ip_forward": "1"},
             ulimits=(Ulimit("nofile", 100, 200),), init=True)
    out = build(s, user=ExecUser(1000, 1000, (50,), "/home/u"), files=files, netns="/run/berth/netns/x",
                cgroups_path="/berth/" + CID, cgroupns=True,
                mounts=(Mount("bind", "/srv", "/data", ("ro",)),))
    p = out["process"]
    assert p["args"] == ["/entry.sh", "serve", "--port", "80"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert p["cwd"] == "/app" and "HOME=/home/u" in p["env"]
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]
    assert out["root"] == {"path": "/merged", "readonly": True}
    assert out["hostname"] == "aaaaaaaaaaaa"
    ns = out["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/berth/netns/x"} in ns and {"type": "cgroup"} in ns
    assert out["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert out["linux"]["cgroupsPath"] == "/berth/" + CID
    mounts = {m["destination"]: m for m in out["mounts"]}
    assert mounts["/dev/shm"]["options"][-1] == f"size={64 << 20}"
    assert "ro" in mounts["/sys"]["options"] and "ro" in mounts["/sys/fs/cgroup"]["options"]
    assert mounts["/etc/hosts"]["source"] == "/r/hosts"
    assert mounts["/data"] == {"destination": "/data", "type": "bind", "source": "/srv",
                               "options": ["rbind", "ro", "rprivate"]}
    assert "noexec" not in mounts["/run"]["options"] and "size=1m" in mounts["/run"]["options"]
    order = [m["destination"] for m in out["mounts"]]
    assert order.index("/dev") < order.index("/dev/pts") < order.index("/dev/shm")
    assert out["linux"]["maskedPaths"] == ["/proc/kcore"]
    assert out["linux"]["seccomp"] == SEC["seccomp"]


def test_user_mount_replaces_engine_file():
    out = build(spec(), files={"/etc/hosts": "/r/hosts"}, mounts=(Mount("bind", "/my/hosts", "/etc/hosts"),))
    hosts = [m for m in out["mounts"] if m["destination"] == "/etc/hosts"]
    assert len(hosts) == 1 and hosts[0]["source"] == "/my/hosts"


def test_network_modes():
    assert not any(n["type"] == "network" for n in build(spec(network_mode="host"))["linux"]["namespaces"])
    assert {"type": "network"} in build(spec(network_mode="none"))["linux"]["namespaces"]


def test_privileged_sysfs_rw():
    mounts = {m["destination"]: m for m in build(spec(privileged=True))["mounts"]}
    assert "ro" not in mounts["/sys"]["options"]


def test_resources():
    r = ocispec.oci_resources(spec(resources=Resources(memory=64 << 20, cpus=1.5, cpu_shares=512,
                                                         cpuset_cpus="0", pids_limit=50,
                                                         memory_reservation=32 << 20, oom_kill_disable=True)),
                              swap_accounting=True)
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                           "disableOOMKiller": True}
    assert r["cpu"] == {"period": 100000, "quota": 150000, "shares": 512, "cpus": "0"}
    assert r["pids"] == {"limit": 50}
    assert ocispec.oci_resources(spec(resources=Resources(memory=64 << 20, memory_swap=-1)))["memory"]["swap"] == -1
    assert ocispec.oci_resources(spec(resources=Resources(pids_limit=-1))) == {"pids": {"limit": -1}}
    # Without swap accounting the default swap is left out (Docker's behaviour), an explicit one refused.
    no_swap = ocispec.oci_resources(spec(resources=Resources(memory=64 << 20)), swap_accounting=False)
    assert no_swap == {"memory": {"limit": 64 << 20}}
    with pytest.raises(InvalidSpec, match="--memory-swap"):
        ocispec.oci_resources(spec(resources=Resources(memory=64 << 20, memory_swap=128 << 20)),
                              swap_accounting=False)
    full = build(spec(resources=Resources(pids_limit=5)))["linux"]["resources"]
    assert full["pids"] == {"limit": 5} and full["devices"] == SEC["deviceCgroup"]


def test_run_options():
    s = spec(tty=True, interactive=True, init=True, stop_timeout=3, log_opts={"max-size": "1m", "max-file": "2"})
    ro = ocispec.run_options(s, IMAGE, "/r/x-json.log", ["berth", "x"])
    assert ro["log"] == {"path": "/r/x-json.log", "max_size": 1 << 20, "max_file": 2}
    assert ro["restart"] == {"name": "no", "max_retries": 0}
    assert (ro["tty"], ro["open_stdin"], ro["init"], ro["stop_timeout"]) == (True, True, True, 3)
    assert ro["stop_signal"] == "SIGQUIT" and ro["on_exit"] == ["berth", "x"]
    assert ocispec.run_options(spec(log_driver="none"), {}, "/x")["log"]["path"] is None
