"""Docker's flag syntaxes: -p, -v, --mount, --tmpfs, --restart, --env-file, --ulimit, ..."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers import options as o
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import MountSpec, PortBinding
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec


@pytest.mark.parametrize("value,expected", [
    ("80", [PortBinding(80)]),
    ("8080:80", [PortBinding(80, "tcp", "", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1", None)]),
    ("[::1]:53:53/udp", [PortBinding(53, "udp", "::1", 53)]),
    ("8000-8001:80-81", [PortBinding(80, "tcp", "", 8000), PortBinding(81, "tcp", "", 8001)]),
    ("7000-7001", [PortBinding(7000), PortBinding(7001)]),
])
def test_publish(value, expected):
    assert o.parse_publish(value) == expected


@pytest.mark.parametrize("value", ["80/icmp", "1.2.3:80:80", "0:70000", "8000-8002:80-81", "a:b", "1:2:3:4"])
def test_publish_errors(value):
    with pytest.raises(InvalidSpec) as e:
        o.parse_publish(value)
    assert value in str(e.value)


def test_volume_forms():
    assert o.parse_volume("/data") == MountSpec("volume", "/data")
    assert o.parse_volume("vol:/data:ro,nocopy") == MountSpec("volume", "/data", "vol", True, no_copy=True)
    assert o.parse_volume("/srv:/data:rshared") == MountSpec("bind", "/data", "/srv", False, "rshared")
    with pytest.raises(InvalidSpec, match="invalid characters"):
        o.parse_volume("bad name:/d")
    with pytest.raises(InvalidSpec, match="invalid mode 'rx'"):
        o.parse_volume("/a:/b:rx")


def test_mount_csv():
    m = o.parse_mount('type=bind,source=/srv,target=/d,readonly,bind-propagation=rslave')
    assert m == MountSpec("bind", "/d", "/srv", True, "rslave")
    t = o.parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert (t.tmpfs_size, t.tmpfs_mode) == (64 << 20, 0o1770)
    v = o.parse_mount('"type=volume","src=v1","target=/x","readonly=false"')
    assert v == MountSpec("volume", "/x", "v1", False)
    with pytest.raises(InvalidSpec, match="target is required"):
        o.parse_mount("type=volume,src=v")
    with pytest.raises(InvalidSpec, match="unexpected key 'colour'"):
        o.parse_mount("type=volume,dst=/v,colour=red")


def test_tmpfs_and_restart():
    assert o.parse_tmpfs("/run:rw,size=64m") == ("/run", "rw,size=64m")
    with pytest.raises(InvalidSpec):
        o.parse_tmpfs("run")
    assert str(o.parse_restart("on-failure:5")) == "on-failure:5"
    assert o.parse_restart("always").name == "always"
    with pytest.raises(InvalidSpec, match="unknown policy"):
        o.parse_restart("never")
    with pytest.raises(InvalidSpec, match="must be an integer"):
        o.parse_restart("on-failure:x")


def test_env_and_env_file(tmp_path):
    assert o.parse_env(["A=1", "B", "C"], {"B": "from-host"}) == ["A=1", "B=from-host"]
    f = tmp_path / "env"
    f.write_text("# comment\n\nX=1\n  Y=two words\nZ\nEMPTY=\n")
    assert o.parse_env_file(str(f), {"Z": "z"}) == ["X=1", "Y=two words", "Z=z", "EMPTY="]
    f.write_text("BAD KEY=1\n")
    with pytest.raises(InvalidSpec, match="contains whitespaces"):
        o.parse_env_file(str(f))
    with pytest.raises(InvalidSpec, match="cannot read"):
        o.parse_env_file(str(tmp_path / "missing"))


def test_labels(tmp_path):
    f = tmp_path / "labels"
    f.write_text("a=1\nb\n")
    assert o.parse_labels(o.parse_label_file(str(f)) + ["c=3"]) == {"a": "1", "b": "", "c": "3"}


def test_ulimit_add_host_sysctl():
    u = o.parse_ulimit("nofile=1024:2048")
    assert (u.name, u.soft, u.hard) == ("nofile", 1024, 2048)
    assert o.parse_ulimit("nproc=10").hard == 10
    with pytest.raises(InvalidSpec):
        o.parse_ulimit("bogus=1")
    with pytest.raises(InvalidSpec, match="soft limit"):
        o.parse_ulimit("nofile=20:10")
    assert o.parse_add_host("db:10.0.0.2") == "db:10.0.0.2"
    assert o.parse_add_host("v6=::1") == "v6:::1"
    assert o.parse_add_host("gw:host-gateway") == "gw:host-gateway"
    with pytest.raises(InvalidSpec, match="invalid IP address"):
        o.parse_add_host("db:not-an-ip")
    assert o.parse_sysctl("net.ipv4.ip_forward=1") == ("net.ipv4.ip_forward", "1")
    with pytest.raises(InvalidSpec, match="not allowed"):
        o.parse_sysctl("vm.swappiness=1")


def test_sizes_durations_cpus():
    assert o.parse_bytes("512m") == 512 << 20
    assert o.parse_bytes("1g") == 1 << 30
    assert o.parse_bytes("1.5GiB") == 3 << 29
    assert o.parse_bytes("100") == 100
    with pytest.raises(InvalidSpec, match="--memory"):
        o.parse_bytes("lots")
    assert o.parse_duration_ns("1m30s") == 90_000_000_000
    assert o.parse_duration_ns("500ms") == 500_000_000
    with pytest.raises(InvalidSpec):
        o.parse_duration_ns("10")
    assert o.parse_cpus("0.5") == 0.5
    with pytest.raises(InvalidSpec, match="range of CPUs"):
        o.parse_cpus("100000")


def test_seccomp_file_is_read_into_the_spec(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert o.parse_security_opt(f"seccomp={f}") == 'seccomp={"defaultAction": "SCMP_ACT_ALLOW"}'
    assert o.parse_security_opt("seccomp=unconfined") == "seccomp=unconfined"
    f.write_text("not json")
    with pytest.raises(InvalidSpec, match="not a JSON seccomp profile"):
        o.parse_security_opt(f"seccomp={f}")


def test_log_opts():
    assert o.parse_log_opts(["max-size=10m", "max-file=3"]) == {"max-size": "10m", "max-file": "3"}
    with pytest.raises(InvalidSpec):
        o.parse_log_opts(["max-file=x"])
