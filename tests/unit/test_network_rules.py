"""Firewall rules, resolv.conf and /etc/hosts contents, network specs, records and filters."""
import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.network import filters, nat, resolvconf
from ansible_collections.berth.engine.plugins.module_utils.network.model import (
    Endpoint,
    NetworkRecord,
    NetworkSpec,
    inspect,
)
from ansible_collections.berth.engine.plugins.module_utils.network.service import plan_connected
from ansible_collections.berth.engine.plugins.module_utils.network.store import KernelNames
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths

A = nat.BridgeRules("br-aaa", "10.1.0.0/16")
B = nat.BridgeRules("br-bbb", "10.2.0.0/16", internal=True)
C = nat.BridgeRules("br-ccc", "10.3.0.0/16", masquerade=False)
PORTS = [nat.PortRule("tcp", "", 8080, "10.1.0.2", 80, "br-aaa"),
         nat.PortRule("udp", "127.0.0.1", 5353, "10.1.0.2", 53, "br-aaa")]


def test_nft_rules():
    body = nat.render_nft("berth", [A, B, C], PORTS)
    lines = [line.strip() for line in body.splitlines()]
    assert "ip saddr 10.1.0.0/16 oifname != \"br-aaa\" masquerade" in lines
    assert not any("ip saddr 10.2.0.0/16 oifname !=" in line for line in lines)   # internal: no way out
    assert not any("ip saddr 10.3.0.0/16 oifname !=" in line for line in lines)   # masquerade off
    assert 'iifname "br-aaa" oifname { "br-bbb", "br-ccc" } drop' in lines
    assert 'iifname "br-bbb" oifname != "br-bbb" drop' in lines
    assert 'oifname "br-bbb" iifname != "br-bbb" drop' in lines
    assert "tcp dport 8080 dnat to 10.1.0.2:80" in lines
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat to 10.1.0.2:53" in lines
    assert 'oifname "br-aaa" ip saddr 127.0.0.0/8 masquerade' in lines
    assert 'oifname "br-aaa" ip saddr 10.1.0.0/16 ct status dnat masquerade' in lines
    assert lines.count("fib daddr type local jump publish") == 2   # prerouting and output
    assert nat.render_nft("berth", [], PORTS) == ""


def test_nft_script_replaces_or_removes_the_table_in_one_go():
    script = nat.nft_script("berth_x", "\tchain c {\n\t}")
    assert script.startswith("table ip berth_x {\n}\ndelete table ip berth_x\ntable ip berth_x {\n")
    assert nat.nft_script("berth_x", "") == "table ip berth_x {\n}\ndelete table ip berth_x\n"


def test_iptables_rules():
    text = nat.render_iptables("BERTH", [A, B], PORTS)
    assert text.startswith("*nat\n:BERTH-PREROUTING - [0:0]\n")
    assert "-A BERTH-PUBLISH -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80" in text
    assert "-A BERTH-PUBLISH -d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.2:53" in text
    assert "-A BERTH-POSTROUTING -s 10.1.0.0/16 ! -o br-aaa -j MASQUERADE" in text
    assert "-s 10.2.0.0/16 ! -o br-bbb" not in text
    assert "-A BERTH-FORWARD -i br-aaa -o br-bbb -j DROP" in text
    assert "-A BERTH-FORWARD -i br-bbb ! -o br-bbb -j DROP" in text
    assert text.count("COMMIT") == 2


def test_kernel_names_depend_on_the_root():
    default = KernelNames(Paths.from_env("/var/lib/berth", "/run/berth"))
    assert (default.default_bridge, default.table, default.chain_prefix) == ("berth0", "berth", "BERTH")
    other = KernelNames(Paths.from_env("/tmp/x/root", "/tmp/x/run"))
    assert other.table.startswith("berth_") and other.default_bridge.startswith("berth-")
    assert len(other.default_bridge) <= 15
    assert KernelNames(Paths.from_env("/tmp/y/root", "/tmp/y/run")).table != other.table


# --- resolv.conf and hosts ----------------------------------------------------------------------

HOST = "nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nnameserver fd00::53\n" \
       "search corp.example\noptions edns0 ndots:2\n"


def test_parse_host_resolv_conf():
    conf = resolvconf.parse(HOST + "nameserver not-an-ip\n# comment\ndomain old.example\n")
    assert conf.nameservers == ("127.0.0.53", "192.0.2.53", "::1", "fd00::53")
    assert conf.search == ("old.example",)
    assert conf.options == ("edns0", "ndots:2")


def test_default_bridge_gets_reachable_host_resolvers():
    host = resolvconf.parse(HOST)
    text = resolvconf.container_resolv_conf(host, embedded=False)
    assert "nameserver 192.0.2.53\n" in text
    assert "127.0.0.53" not in text and "::1" not in text and "fd00::53" not in text
    assert "search corp.example" in text and "options edns0 ndots:2" in text
    only_loopback = resolvconf.parse("nameserver 127.0.0.1\n")
    assert resolvconf.reachable_servers(only_loopback) == ["8.8.8.8", "8.8.4.4"]


def test_user_networks_get_the_embedded_resolver():
    text = resolvconf.container_resolv_conf(resolvconf.parse(HOST), embedded=True)
    assert [line for line in text.splitlines() if line.startswith("nameserver")] == ["nameserver 127.0.0.11"]
    assert "options edns0 ndots:0" in text
    custom = resolvconf.container_resolv_conf(resolvconf.parse(HOST), embedded=False, dns=["1.1.1.1"],
                                              dns_search=["a.example"], dns_options=["rotate"])
    assert "nameserver 1.1.1.1" in custom and "search a.example" in custom and "options rotate" in custom


def test_hosts_file():
    text = resolvconf.hosts_file("172.18.0.2", ["abc123"], [("db.local", "10.0.0.5")])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.0.0.5\tdb.local" in lines and lines[-1] == "172.18.0.2\tabc123"
    assert resolvconf.hosts_file(None, ["x"]).splitlines()[-1] == "ff02::2\tip6-allrouters"


# --- specs, records, filters -----------------------------------------------------------------

def test_network_spec_validation_names_the_field():
    with pytest.raises(InvalidSpec, match="driver") as exc:
        NetworkSpec(driver="overlay")
    assert exc.value.details["field"] == "driver"
    with pytest.raises(InvalidSpec, match="unsupported driver option"):
        NetworkSpec(options={"com.example.foo": "1"})
    with pytest.raises(InvalidSpec, match="MTU"):
        NetworkSpec(options={"com.docker.network.driver.mtu": "20"})
    with pytest.raises(InvalidSpec, match="enable_ipv6"):
        NetworkSpec.from_params({"enable_ipv6": True})
    with pytest.raises(InvalidSpec, match="one IPv4 pool"):
        NetworkSpec.from_params({"ipam_config": [{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.1.0/24"}]})
    spec = NetworkSpec.from_params({"ipam_config": [{"subnet": "10.0.0.0/24", "iprange": "10.0.0.0/25"}],
                                    "labels": {"a": 1}, "internal": True})
    assert (spec.subnet, spec.ip_range, spec.labels, spec.internal) == ("10.0.0.0/24", "10.0.0.0/25", {"a": "1"}, True)
    assert NetworkSpec.from_dict(spec.to_dict()) == spec


def test_inspect_shape():
    rec = NetworkRecord("f" * 64, "app", "bridge", "2026-11-23T10:00:00.000000000Z",
                        NetworkSpec(labels={"x": "y"}, ip_range="10.5.0.0/25"), "10.5.0.0/24", "10.5.0.1",
                        "10.5.0.0/25", "br-ffffffffffff")
    assert NetworkRecord.from_dict(rec.to_dict()) == rec
    ep = Endpoint("1" * 64, "web", "e" * 64, "10.5.0.2", 24, "02:42:0a:05:00:02", "veth1234567", "eth0", "/n")
    data = inspect(rec, {ep.container_id: ep})
    assert data["IPAM"] == {"Driver": "default", "Options": {},
                            "Config": [{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1", "IPRange": "10.5.0.0/25"}]}
    assert data["Containers"] == {"1" * 64: {"Name": "web", "EndpointID": "e" * 64,
                                             "MacAddress": "02:42:0a:05:00:02", "IPv4Address": "10.5.0.2/24",
                                             "IPv6Address": ""}}
    assert (data["Scope"], data["Driver"], data["Internal"], data["Labels"]) == ("local", "bridge", False, {"x": "y"})
    for key in ("Name", "Id", "Created", "EnableIPv6", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly",
                "Options"):
        assert key in data
    settings = ep.settings(rec)
    assert settings["IPAddress"] == "10.5.0.2" and settings["NetworkID"] == rec.id and settings["IPPrefixLen"] == 24


def test_ls_filters():
    custom = {"Id": "abc123" + "0" * 58, "Name": "web-net", "Driver": "bridge", "Scope": "local",
              "Labels": {"env": "prod", "team": ""}, "Containers": {}}
    assert filters.matches(custom, False, {"name": ["web"], "driver": ["bridge"]})
    assert not filters.matches(custom, False, {"name": ["db"]})
    assert filters.matches(custom, False, {"id": ["abc"]})
    assert filters.matches(custom, False, {"label": ["env=prod", "team"]})
    assert not filters.matches(custom, False, {"label": ["env=dev"]})
    assert filters.matches(custom, False, {"type": ["custom"]})
    assert not filters.matches(custom, True, {"type": ["custom"]})
    assert filters.matches(custom, False, {"dangling": ["true"]})
    assert not filters.matches(custom, False, {"dangling": ["true"]}, {"web-net"})
    assert not filters.matches(custom, True, {"dangling": ["1"]})
    with pytest.raises(InvalidSpec, match="invalid filter 'colour'"):
        filters.parse(["colour=red"])
    with pytest.raises(InvalidSpec, match="custom or builtin"):
        filters.parse(["type=other"])
    assert filters.parse(["name=a", "name=b", "label=x=y"]) == {"name": ["a", "b"], "label": ["x=y"]}


def test_plan_connected():
    current = [("a" * 64, "web"), ("b" * 64, "db")]
    assert plan_connected(current, ["web", "cache"], appends=False) == (["cache"], ["db"])
    assert plan_connected(current, ["web", "cache"], appends=True) == (["cache"], [])
    assert plan_connected(current, ["aaaa", "db"], appends=False) == ([], [])
    assert plan_connected(current, [], appends=False) == ([], ["web", "db"])
