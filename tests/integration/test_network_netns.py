"""Network namespaces as files, and the iptables fallback of the firewall, on the real kernel."""
from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import NetworkError
from ansible_collections.berth.engine.plugins.module_utils.network import nat, netns
from ansible_collections.berth.engine.plugins.module_utils.network.service import NetworkService

from ..fixtures.network import open_lab

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_create_enter_and_delete_a_namespace(tmp_path):
    path = tmp_path / "ns" / "c1"
    before = own_netns()
    netns.create_netns(path)
    try:
        assert netns.is_netns(path)
        inside = netns.run_in_netns(path, own_netns)
        assert inside != before and own_netns() == before   # the caller never moved
        flags = netns.run_in_netns(path, lambda: open("/sys/class/net/lo/flags").read())
        assert int(flags, 16) & 1                          # lo is up
        with pytest.raises(NetworkError, match="already exists"):
            netns.create_netns(path)
        with pytest.raises(ZeroDivisionError):
            netns.run_in_netns(path, lambda: 1 / 0)         # errors come back to the caller
    finally:
        netns.delete_netns(path)
    assert not path.exists() and not netns.is_netns(path)
    with open("/proc/self/mountinfo") as f:
        assert str(path) not in f.read()
    with pytest.raises(NetworkError, match="does not exist"):
        netns.run_in_netns(path, own_netns)


def test_create_replaces_a_stale_file(tmp_path):
    path = tmp_path / "c2"
    path.write_text("")          # left by a create that died before its mount
    netns.create_netns(path)
    try:
        assert netns.is_netns(path)
    finally:
        netns.delete_netns(path)


def _nft_tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def _drop_empty_tables_made_by_iptables(before: set[str]) -> None:
    """iptables-nft creates 'ip nat' and 'ip filter' tables on first use; when this test made
    them (they were not there before) and they hold nothing, remove them again."""
    for table in ("table ip nat", "table ip filter"):
        if table in before or table not in _nft_tables():
            continue
        listing = subprocess.run(["nft", "list", *table.split()], capture_output=True, text=True).stdout
        if not any(line.strip() and not line.strip().startswith(("table", "chain", "type", "}"))
                   for line in listing.splitlines()):
            subprocess.run(["nft", "delete", *table.split()], check=False)


def test_iptables_fallback_makes_and_removes_its_chains(lab):
    before = _nft_tables()
    svc = NetworkService(lab.paths, firewall_backend="iptables")
    lab.svc = svc   # the lab cleans up through the same backend
    try:
        lab.network("front", subnet=lab.subnet())
        lab.network("sealed", subnet=lab.subnet(), internal=True)
        web = lab.container("web", ["front"])
        lab.svc.publish(web.cid, [{"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": None}],
                        lab.ip_of(web, "front"))
        prefix = svc.names.chain_prefix
        nat_rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        filt = subprocess.run(["iptables", "-w", "-t", "filter", "-S"], capture_output=True, text=True).stdout
        assert f"-A PREROUTING -j {prefix}-PREROUTING" in nat_rules
        assert f"--to-destination {lab.ip_of(web, 'front')}:80" in nat_rules
        assert f"-A FORWARD -j {prefix}-FORWARD" in filt and "-j DROP" in filt
        assert f"table ip {svc.names.table}" not in _nft_tables()   # nothing through nft
        lab.remove_container(web)
        for nid in list(lab.networks):
            svc.remove(nid)
        lab.networks.clear()
        svc.teardown()
        nat_rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        assert prefix not in nat_rules
    finally:
        _drop_empty_tables_made_by_iptables(before)


def test_firewall_refuses_what_nft_refuses():
    fw = nat.Firewall("berth_badtest", "BB", backend="nft")
    with pytest.raises(NetworkError, match="nft refused"):
        fw.apply([nat.BridgeRules('br-"x', "10.0.0.0/8")], [])
    assert "table ip berth_badtest" not in _nft_tables()


def test_release_all_removes_everything_a_root_made(paths):
    import secrets

    from ansible_collections.berth.engine.plugins.module_utils.network.cleanup import release_all
    from ansible_collections.berth.engine.plugins.module_utils.network.model import NetworkSpec

    from ..fixtures.network import Lab

    svc = NetworkService(paths)
    net = svc.create("x", NetworkSpec(subnet=Lab.subnet()))
    cid = secrets.token_hex(32)
    ns = svc.create_netns(cid)
    ep = svc.connect("x", cid, ns, name="a")
    svc.connect("bridge", cid, ns, name="a")
    svc.publish(cid, [{"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": None}],
                ep["IPAddress"])
    veths = [e.host_ifname for r in svc.store.records() for e in svc.store.endpoints(r.id).values()]
    assert release_all(paths) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for name in [*veths, f"br-{net['Id'][:12]}", svc.names.default_bridge]:
        assert f" {name}:" not in links and f" {name}@" not in links
    assert f"table ip {svc.names.table}" not in _nft_tables()
    assert not netns.is_netns(ns) and os.listdir(paths.netns) == []
    assert svc.ports(cid) == [] and svc.endpoints(cid) == {}
