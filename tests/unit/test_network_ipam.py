from ipaddress import IPv4Address, IPv4Network

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec, NetworkError
from ansible_collections.berth.engine.plugins.module_utils.network import ipam


def test_default_pools_follow_dockers_order():
    subnets = list(ipam.candidate_subnets())
    assert [str(s) for s in subnets[:2]] == ["172.17.0.0/16", "172.18.0.0/16"]
    assert str(subnets[14]) == "172.31.0.0/16"
    assert [str(s) for s in subnets[15:17]] == ["192.168.0.0/20", "192.168.16.0/20"]
    assert len(subnets) == 15 + 16


def test_choose_subnet_skips_what_is_taken():
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert str(ipam.choose_subnet(taken)) == "172.19.0.0/16"
    everything = [IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")]
    with pytest.raises(NetworkError, match="non-overlapping IPv4 address pool"):
        ipam.choose_subnet(everything)
    # a host route into 192.168.0.0/20 pushes to the next /20
    taken = [IPv4Network("172.16.0.0/12"), IPv4Network("192.168.1.0/24")]
    assert str(ipam.choose_subnet(taken)) == "192.168.16.0/20"


@pytest.mark.parametrize("subnet, gateway, ip_range, field, message", [
    ("10.1.0.1/16", None, None, "subnet", "host bits are set, did you mean 10.1.0.0/16"),
    ("10.1.0.0", None, None, "subnet", "prefix length is required"),
    ("banana", None, None, "subnet", "expected an IPv4 CIDR"),
    ("10.1.0.0/31", None, None, "subnet", "too small"),
    ("10.1.0.0/16", "10.2.0.1", None, "gateway", "not inside subnet"),
    ("10.1.0.0/16", "10.1.255.255", None, "gateway", "broadcast"),
    ("10.1.0.0/16", "nope", None, "gateway", "expected an IPv4 address"),
    ("10.1.0.0/16", None, "10.2.0.0/24", "ip_range", "not inside subnet"),
    (None, "10.1.0.1", None, "gateway", "requires a subnet"),
    (None, None, "10.1.0.0/24", "ip_range", "requires a subnet"),
])
def test_make_pool_names_the_bad_field(subnet, gateway, ip_range, field, message):
    with pytest.raises(InvalidSpec, match=message) as exc:
        ipam.make_pool(subnet, gateway, ip_range)
    assert exc.value.details["field"] == field


def test_make_pool_defaults_and_overlap_with_other_networks():
    pool = ipam.make_pool("10.1.0.0/16")
    assert (str(pool.gateway), pool.ip_range) == ("10.1.0.1", None)
    pool = ipam.make_pool(None, taken=[IPv4Network("172.17.0.0/16")])
    assert str(pool.subnet) == "172.18.0.0/16" and str(pool.gateway) == "172.18.0.1"
    # a user-given subnet may overlap a host route, never another berth network
    assert ipam.make_pool("172.17.0.0/16", taken=[IPv4Network("172.17.0.0/16")])
    with pytest.raises(Conflict, match="overlaps with 10.0.0.0/8"):
        ipam.make_pool("10.1.0.0/16", user_taken=[IPv4Network("10.0.0.0/8")])
    assert ipam.Pool.from_dict(pool.to_dict()) == pool


def test_allocation_is_lowest_free_and_skips_reserved_addresses():
    pool = ipam.make_pool("10.9.0.0/29", gateway="10.9.0.2")
    a = ipam.Ipam(pool, network="tiny")
    got = [str(a.allocate()) for _ in range(5)]
    assert got == ["10.9.0.1", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(NetworkError, match="no available IPv4 addresses on network tiny"):
        a.allocate()
    a.release("10.9.0.4")
    assert str(a.allocate()) == "10.9.0.4"


def test_allocation_within_ip_range_and_requested_addresses():
    pool = ipam.make_pool("10.9.0.0/24", ip_range="10.9.0.128/30")
    a = ipam.Ipam(pool, used=["10.9.0.128"], network="ranged")
    assert str(a.allocate()) == "10.9.0.129"
    assert str(a.allocate("10.9.0.50")) == "10.9.0.50"       # outside the range, inside the subnet
    with pytest.raises(Conflict, match="already in use on network ranged"):
        a.allocate("10.9.0.50")
    with pytest.raises(InvalidSpec, match="gateway"):
        a.allocate("10.9.0.1")
    with pytest.raises(InvalidSpec, match="broadcast"):
        a.allocate("10.9.0.255")
    with pytest.raises(InvalidSpec, match="not inside subnet 10.9.0.0/24") as exc:
        a.allocate("10.8.0.5")
    assert exc.value.details["field"] == "ip"
    assert str(a.allocate()) == "10.9.0.130"
    assert str(a.allocate()) == "10.9.0.131"
    with pytest.raises(NetworkError, match="10.9.0.128/30 is exhausted"):
        a.allocate()


def test_large_subnets_allocate_without_listing_hosts():
    a = ipam.Ipam(ipam.make_pool("10.0.0.0/8"), network="big")
    assert a.allocate() == IPv4Address("10.0.0.2")


def test_mac_is_derived_from_the_address_as_docker_does():
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"
    assert ipam.mac_for(IPv4Address("10.255.1.200")) == "02:42:0a:ff:01:c8"
