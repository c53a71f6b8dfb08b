import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec, NetworkError
from ansible_collections.berth.engine.plugins.module_utils.network import portmap


def b(cport, host_port=None, host_ip="", proto="tcp"):
    return {"container_port": cport, "protocol": proto, "host_ip": host_ip, "host_port": host_port}


@pytest.mark.parametrize("spec, expected", [
    ("80", [b(80)]),
    ("8080:80", [b(80, 8080)]),
    ("127.0.0.1:8080:80", [b(80, 8080, "127.0.0.1")]),
    ("127.0.0.1::80", [b(80, None, "127.0.0.1")]),
    ("53:53/udp", [b(53, 53, proto="udp")]),
    ("8080-8081:80-81", [b(80, 8080), b(81, 8081)]),
    ("8000-8010:80", [b(80, "8000-8010")]),
    ("80-81/TCP", [b(80), b(81)]),
])
def test_parse_publish_forms(spec, expected):
    assert portmap.parse_publish([spec]) == expected


@pytest.mark.parametrize("spec, message", [
    ("99999:80", "out of range"),
    ("80:0", "out of range"),
    ("8080-8082:80-81", "differ in size"),
    ("a:b:c:d", "expected"),
    ("300.1.1.1:80:80", "not an IPv4 address"),
    ("[::1]:80:80", "IPv6"),
    ("80/icmp", "protocol"),
    ("http", "bad container port"),
])
def test_parse_publish_errors_name_the_value(spec, message):
    with pytest.raises(InvalidSpec, match=message) as exc:
        portmap.parse_publish([spec])
    assert exc.value.details["field"] == "publish" and exc.value.details["value"] == spec


def test_allocate_checks_explicit_ports_and_fills_free_ones():
    free = lambda proto, ip, port: port not in (40001,)  # noqa: E731 - a program holds 40001
    taken = [("tcp", "", 40000)]
    out = portmap.allocate([b(80), b(81, host_ip="127.0.0.1"), b(53, proto="udp"), b(90, "40000-40010")], taken,
                           port_range=(40000, 40005), is_free=free)
    assert [(o["host_ip"], o["host_port"]) for o in out] == [
        ("0.0.0.0", 40002), ("127.0.0.1", 40003), ("0.0.0.0", 40000), ("0.0.0.0", 40004)]
    with pytest.raises(Conflict, match="Bind for 0.0.0.0:40000 failed: port is already allocated"):
        portmap.allocate([b(80, 40000)], taken, is_free=free)
    with pytest.raises(Conflict, match="address already in use"):
        portmap.allocate([b(80, 40001)], taken, is_free=free)
    # another address than the one taken is fine; the same one is not
    assert portmap.allocate([b(80, 40000, "127.0.0.2")], [("tcp", "127.0.0.1", 40000)], is_free=free)
    with pytest.raises(Conflict):
        portmap.allocate([b(80, 40000, "127.0.0.1")], [("tcp", "127.0.0.1", 40000)], is_free=free)
    with pytest.raises(NetworkError, match="no free host port for 80/tcp in 40000-40001"):
        portmap.allocate([b(80, "40000-40001")], taken, is_free=free)


def test_two_bindings_in_one_request_do_not_collide():
    out = portmap.allocate([b(80), b(81)], [], port_range=(50000, 50010), is_free=lambda *a: True)
    assert [o["host_port"] for o in out] == [50000, 50001]


def test_docker_shapes():
    bindings = portmap.from_port_bindings({"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": None})
    assert bindings == [b(80, 8080), b(53, None, proto="udp")]
    assert portmap.publish_all(["80/tcp", "53/udp"]) == [b(80), b(53, proto="udp")]
    chosen = [b(80, 8080, "0.0.0.0"), b(81, 8081, "0.0.0.0"), b(53, 5353, "127.0.0.1", "udp")]
    assert portmap.to_port_map(chosen) == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                           "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}],
                                           "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}
    assert portmap.port_lines(chosen) == ["80/tcp -> 0.0.0.0:8080", "81/tcp -> 0.0.0.0:8081",
                                          "53/udp -> 127.0.0.1:5353"]
    assert portmap.port_lines(chosen, "53/udp") == ["127.0.0.1:5353"]
    assert portmap.ports_summary(chosen, exposed=["443/tcp", "80/tcp"]) == \
        "0.0.0.0:8080-8081->80-81/tcp, 127.0.0.1:5353->53/udp, 443/tcp"
