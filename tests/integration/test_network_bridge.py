"""Bridge networks on the real kernel: reachability, names, isolation, internal networks,
connect and disconnect while running. "Containers" are network namespaces made by the lab."""
from __future__ import annotations

import subprocess

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec

from ..fixtures.network import open_lab

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def ping(lab, ctr, target: str) -> bool:
    return lab.sh(ctr, f"ping -c1 -W2 {target}").returncode == 0


def links_inside(lab, ctr) -> list[str]:
    out = lab.sh(ctr, "ip -o link show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def upstream_gateway() -> str | None:
    out = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    return out[out.index("via") + 1] if "via" in out else None


def test_two_containers_reach_each_other_by_ip_and_by_name(lab):
    lab.network("front", subnet=lab.subnet())
    web = lab.container("web", ["front"], dns_server=True)
    client = lab.container("client", ["front"], dns_server=True)

    assert ping(lab, client, lab.ip_of(web, "front"))
    assert ping(lab, client, "web")
    assert ping(lab, web, "client")
    look = lab.sh(client, "nslookup web 127.0.0.11")
    assert look.returncode == 0 and lab.ip_of(web, "front") in look.stdout
    # The resolv.conf a container on a user network gets points at the responder.
    assert "nameserver 127.0.0.11" in client.resolv.read_text()
    # MAC derived from the address, as Docker does; eth0 inside.
    data = lab.svc.inspect("front")["Containers"][web.cid]
    ip = lab.ip_of(web, "front")
    assert data["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert data["IPv4Address"] == f"{ip}/24" and data["Name"] == "web"
    assert "eth0" in links_inside(lab, web)


def test_containers_on_another_bridge_cannot_reach_them(lab):
    lab.network("front", subnet=lab.subnet())
    lab.network("other", subnet=lab.subnet())
    web = lab.container("web", ["front"])
    outsider = lab.container("outsider", ["other"], dns_server=True)

    other_gw = lab.svc.inspect("other")["IPAM"]["Config"][0]["Gateway"]
    assert ping(lab, outsider, other_gw)                 # its own network works
    assert not ping(lab, outsider, lab.ip_of(web, "front"))  # the other one is dropped
    assert lab.sh(outsider, "nslookup web 127.0.0.11").returncode != 0


def test_connect_and_disconnect_while_running(lab):
    lab.network("front", subnet=lab.subnet())
    lab.network("back", subnet=lab.subnet())
    app = lab.container("app", ["front"], dns_server=True)
    db = lab.container("db", ["back"])
    assert not ping(lab, app, lab.ip_of(db, "back"))

    ep = lab.connect(app, "back", aliases=["application"])
    assert links_inside(lab, app).count("eth1") == 1
    assert ping(lab, app, lab.ip_of(db, "back"))
    assert ping(lab, app, "db")
    assert app.cid in lab.svc.inspect("back")["Containers"]
    assert ep["Aliases"] == ["application"] and ep["IPAddress"] == lab.ip_of(app, "back")

    lab.svc.disconnect("back", app.cid)
    assert "eth1" not in links_inside(lab, app)
    assert not ping(lab, app, lab.ip_of(db, "back"))
    assert app.cid not in lab.svc.inspect("back")["Containers"]
    assert lab.sh(app, "nslookup db 127.0.0.11").returncode != 0
    # the default route stayed with front, the first network
    routes = lab.sh(app, "ip route").stdout
    assert "default via " + lab.svc.inspect("front")["IPAM"]["Config"][0]["Gateway"] in routes


def test_default_route_moves_when_its_network_leaves(lab):
    lab.network("first", subnet=lab.subnet())
    lab.network("second", subnet=lab.subnet())
    c = lab.container("c", ["first", "second"])
    gw1 = lab.svc.inspect("first")["IPAM"]["Config"][0]["Gateway"]
    gw2 = lab.svc.inspect("second")["IPAM"]["Config"][0]["Gateway"]
    assert f"default via {gw1}" in lab.sh(c, "ip route").stdout
    lab.svc.disconnect("first", c.cid)
    assert f"default via {gw2}" in lab.sh(c, "ip route").stdout


def test_names_that_join_later_resolve_and_those_that_left_do_not(lab):
    lab.network("front", subnet=lab.subnet())
    client = lab.container("client", ["front"], dns_server=True)
    assert lab.sh(client, "nslookup late 127.0.0.11").returncode != 0
    late = lab.container("late", ["front"], aliases=["latecomer"])
    out = lab.sh(client, "nslookup latecomer 127.0.0.11")
    assert out.returncode == 0 and lab.ip_of(late, "front") in out.stdout
    assert ping(lab, client, "late")
    lab.remove_container(late)
    out = lab.sh(client, "nslookup late 127.0.0.11")
    assert out.returncode != 0 and "NXDOMAIN" in out.stdout + out.stderr


def test_internal_network_has_no_route_out(lab):
    gw = upstream_gateway()
    lab.network("open", subnet=lab.subnet())
    lab.network("sealed", subnet=lab.subnet(), internal=True)
    inside = lab.container("inside", ["sealed"])
    assert "default" not in lab.sh(inside, "ip route").stdout
    if gw:
        opened = lab.container("opened", ["open"])
        assert ping(lab, opened, gw)             # masquerade takes a normal network out
        assert not ping(lab, inside, gw)
        # even with a route put in by hand, the firewall drops the forwarding
        sealed_gw = lab.svc.inspect("sealed")["IPAM"]["Config"][0]["Gateway"]
        assert lab.sh(inside, f"ip route add default via {sealed_gw}").returncode == 0
        assert not ping(lab, inside, gw)


def test_default_bridge_gets_docker_addresses_and_no_names(lab):
    c = lab.container("plain", ["bridge"])
    d = lab.container("plain2", ["bridge"])
    rec = lab.svc.get("bridge")
    assert rec.bridge == lab.svc.names.default_bridge
    ep = lab.svc.endpoints(c.cid)["bridge"]
    assert ep["DNSNames"] is None and ep["Gateway"] == rec.gateway
    assert ping(lab, d, ep["IPAddress"])
    assert "127.0.0.11" not in c.resolv.read_text()
    with pytest.raises(InvalidSpec, match="user defined networks"):
        lab.svc.connect("bridge", "f" * 64, c.netns, name="x", ip=ep["IPAddress"])


def test_static_ip_and_conflicts(lab):
    net = lab.subnet()
    base = net.rsplit(".", 1)[0]
    lab.network("front", subnet=net, ip_range=f"{base}.128/25")
    a = lab.container("a", [])
    lab.connect(a, "front", ip=f"{base}.10")
    assert lab.ip_of(a, "front") == f"{base}.10"
    b = lab.container("b", ["front"])
    assert lab.ip_of(b, "front") == f"{base}.128"     # first of the range
    c = lab.container("c", [])
    with pytest.raises(Conflict, match="already in use"):
        lab.connect(c, "front", ip=f"{base}.10")
    with pytest.raises(InvalidSpec, match="not inside subnet") as exc:
        lab.connect(c, "front", ip="192.0.2.99")
    assert exc.value.details["field"] == "ip"
    with pytest.raises(Conflict, match="has active endpoints"):
        lab.svc.remove("front")
    with pytest.raises(Conflict, match="already exists"):
        lab.connect(a, "front")
    # nothing of the failed attempts is left inside c
    assert links_inside(lab, c) == ["lo"]
