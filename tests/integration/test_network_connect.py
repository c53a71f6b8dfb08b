"""`network connect` / `disconnect` of containers, running and stopped (issue 6): an interface
appears or goes inside a running container, its name resolves on the network or stops
resolving, and the stored spec follows so a restart keeps the choice."""
from __future__ import annotations

import os
import random

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


@pytest.fixture
def net(cengine):
    name = f"conn{os.getpid()}{random.randint(0, 9999)}"
    subnet = f"10.{random.randint(64, 127)}.{random.randint(0, 255)}.0/24"
    cp = run_cli(cengine, "network", "create", "--subnet", subnet, name)
    assert cp.returncode == 0, cp.stderr
    return name


def sh(engine, ctr: str, command: str):
    return run_cli(engine, "exec", ctr, "sh", "-c", command)


def test_connect_at_run_time_then_ping_by_name_then_disconnect(cengine, net):
    assert run_cli(cengine, "run", "-d", "--name", "srv", "--network", net, "busybox", "sleep", "300").returncode == 0
    assert run_cli(cengine, "run", "-d", "--name", "cli", "busybox", "sleep", "300").returncode == 0
    assert sh(cengine, "cli", "ping -c1 -W2 srv").returncode != 0         # not on the network yet
    cp = run_cli(cengine, "network", "connect", "--alias", "client", net, "cli")
    assert cp.returncode == 0, cp.stderr
    ifaces = out(sh(cengine, "cli", "ls /sys/class/net")).split()
    assert sorted(ifaces) == ["eth0", "eth1", "lo"]
    assert sh(cengine, "cli", "ping -c1 -W2 srv").returncode == 0
    assert sh(cengine, "srv", "ping -c1 -W2 client").returncode == 0      # its alias, from the other side
    ip = cengine.containers.inspect("cli")["NetworkSettings"]["Networks"][net]["IPAddress"]
    assert ip and ip in out(sh(cengine, "cli", "cat /etc/hosts"))
    assert "nameserver 127.0.0.11" in out(sh(cengine, "cli", "cat /etc/resolv.conf"))
    assert net in [n.name for n in cengine.containers.get("cli").spec.networks]

    cp = run_cli(cengine, "network", "disconnect", net, "cli")
    assert cp.returncode == 0, cp.stderr
    assert sorted(out(sh(cengine, "cli", "ls /sys/class/net")).split()) == ["eth0", "lo"]
    assert sh(cengine, "cli", "ping -c1 -W1 srv").returncode != 0
    assert sh(cengine, "srv", "ping -c1 -W1 client").returncode != 0
    assert ip not in out(sh(cengine, "cli", "cat /etc/hosts"))
    assert net not in cengine.containers.inspect("cli")["NetworkSettings"]["Networks"]
    assert net not in [n.name for n in cengine.containers.get("cli").spec.networks]


def test_connect_a_stopped_container_takes_effect_at_start(cengine, net):
    run_cli(cengine, "run", "-d", "--name", "peer", "--network", net, "busybox", "sleep", "300")
    assert run_cli(cengine, "create", "--name", "later", "busybox", "sleep", "300").returncode == 0
    assert cengine.containers.network_connect("later", net, aliases=["late"]) is None
    assert run_cli(cengine, "start", "later").returncode == 0
    nets = cengine.containers.inspect("later")["NetworkSettings"]["Networks"]
    assert set(nets) == {"bridge", net}
    assert sh(cengine, "later", "ping -c1 -W2 peer").returncode == 0
    assert sh(cengine, "peer", "ping -c1 -W2 late").returncode == 0
    run_cli(cengine, "stop", "-t", "0", "later")
    cengine.containers.network_disconnect("later", net)
    assert run_cli(cengine, "start", "later").returncode == 0
    assert set(cengine.containers.inspect("later")["NetworkSettings"]["Networks"]) == {"bridge"}


def test_disconnect_from_the_primary_network_keeps_the_others(cengine, net):
    run_cli(cengine, "run", "-d", "--name", "two", "--network", net, "busybox", "sleep", "300")
    cengine.containers.network_connect("two", "bridge")
    cengine.containers.network_disconnect("two", net)
    rec = cengine.containers.get("two")
    assert rec.spec.network_mode == "bridge" and set(rec.networks) == {"bridge"}
    assert sorted(out(sh(cengine, "two", "ls /sys/class/net")).split()) == ["eth1", "lo"]


def test_connect_and_disconnect_errors(cengine, net):
    run_cli(cengine, "run", "-d", "--name", "e1", "--network", net, "busybox", "sleep", "300")
    with pytest.raises(Conflict, match="already exists"):
        cengine.containers.network_connect("e1", net)
    with pytest.raises(Conflict, match="not connected"):
        cengine.containers.network_disconnect("e1", "bridge")
    cengine.containers.network_disconnect("e1", "bridge", force=True)       # forced: nothing to do
    with pytest.raises(InvalidSpec, match="user defined"):
        cengine.containers.network_connect("e1", "bridge", ip="172.17.0.99")
    run_cli(cengine, "run", "-d", "--name", "h1", "--network", "host", "busybox", "sleep", "300")
    with pytest.raises(Conflict, match="host"):
        cengine.containers.network_connect("h1", net)
    cp = run_cli(cengine, "network", "connect", "no-such-net", "e1")
    assert cp.returncode != 0 and b"no-such-net" in cp.stderr
