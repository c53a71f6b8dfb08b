"""Netlink work runs in the warm monitor server (Runtime.server_call), and `berth run --rm`
leaves nothing behind although it finishes its removal after answering."""
from __future__ import annotations

import os

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec, NetworkError
from ansible_collections.berth.engine.plugins.module_utils.network import bridge
from ansible_collections.berth.engine.plugins.module_utils.runtime import server

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli
from tests.fixtures.runtime import wait_for

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


def test_server_calls_run_in_the_server(engine):
    rt = engine.runtime
    assert rt.server_call("network.bridge", "link_exists", "lo") is True
    pid = int((engine.paths.run / "monitor.pid").read_text().split()[0])
    assert pid != os.getpid()
    assert rt.server_call("network.bridge", "link_exists", f"nx{os.getpid()}") is False
    # The proxy: SERVER_CALLS go to the server, any other name is the local module's.
    proxy = rt.in_server(bridge)
    assert proxy.host_addresses() and "127.0.0.1" in proxy.host_addresses()
    assert proxy.new_host_ifname.__name__ == "<lambda>"
    assert proxy.host_networks is bridge.host_networks


def test_server_call_errors_come_back_typed(engine):
    rt = engine.runtime
    with pytest.raises(InvalidSpec, match="no server call"):
        rt.server_call("network.bridge", "not_a_call")
    with pytest.raises(InvalidSpec, match="runs no calls of module"):
        rt.server_call("runtime.install", "engine_hash")
    with pytest.raises(NetworkError, match="does not exist"):
        rt.server_call("network.bridge", "netns_links", str(engine.paths.run / f"no-netns-{os.getpid()}"))
    assert "network.bridge" in server.CALL_MODULES


def test_connect_and_release_through_the_server(cengine):
    """The network service as the engine wires it: endpoints made and dropped by the server."""
    nets = cengine.networks
    cid = os.urandom(32).hex()
    path = nets.create_netns(cid)
    try:
        ep = nets.connect("bridge", cid, path, name=f"srvcall{os.getpid()}")
        host_if = nets.store.endpoints(nets.default().id)[cid].host_ifname
        assert bridge.link_exists(host_if)
        assert sorted(bridge.netns_links(path)) == ["eth0", "lo"]
        assert bridge.has_default_route(path) and ep["IPAddress"]
    finally:
        nets.delete_netns(cid)
    assert cid not in nets.store.endpoints(nets.default().id)
    wait_for(lambda: not bridge.link_exists(host_if))   # deleted by the server after it answered


def test_run_rm_leaves_nothing_behind(cengine):
    paths = cengine.paths
    for network in ("bridge", "none"):
        cp = run_cli(cengine, "run", "--rm", "--network", network, "busybox", "sh", "-c", "echo hi; exit 3")
        assert cp.returncode == 3, cp.stderr
        assert out(cp) == "hi\n"
        assert out(run_cli(cengine, "ps", "-aq")) == ""
    # What the command left to its detached helper and to the monitor is gone too.
    wait_for(lambda: not any(paths.tmp.iterdir()) if paths.tmp.exists() else True)
    wait_for(lambda: not any((paths.run / "containers").iterdir()))
    ghosts = {p.name: [f.name for f in p.iterdir()] for p in paths.containers.iterdir()
              if not p.name.startswith(".")}
    assert not ghosts          # no ghost state.json from a monitor
    if paths.netns.exists():
        assert not any(paths.netns.iterdir())
    log = paths.run / "monitor.log"
    assert "Traceback" not in (log.read_text() if log.exists() else "")


def test_rm_removes_the_cgroup_after_answering(cengine):
    name = f"cgrm{os.getpid()}"
    assert run_cli(cengine, "run", "--name", name, "--network", "none", "busybox", "true").returncode == 0
    cid = out(run_cli(cengine, "inspect", "-f", "{{.Id}}", name)).strip()
    dirs = [os.path.join(root, "berth", cid) for root in _cgroup_roots()]
    assert any(os.path.isdir(d) for d in dirs)
    assert run_cli(cengine, "rm", name).returncode == 0
    assert run_cli(cengine, "inspect", name).returncode != 0
    wait_for(lambda: not any(os.path.isdir(d) for d in dirs))
    wait_for(lambda: not (cengine.paths.run / "containers" / cid).exists())


def _cgroup_roots() -> list[str]:
    out_ = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            fstype = parts[parts.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                out_.append(parts[4])
    return out_


def test_seccomp_filters_are_cached_per_profile(cengine):
    for _ in range(2):
        cp = run_cli(cengine, "run", "--rm", "--network", "none", "busybox", "grep", "Seccomp:", "/proc/self/status")
        assert cp.returncode == 0, cp.stderr
        assert out(cp).split() == ["Seccomp:", "2"]
    cached = list((cengine.paths.run / "seccomp").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".bpf"
    cp = run_cli(cengine, "run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox",
                 "grep", "Seccomp:", "/proc/self/status")
    assert out(cp).split() == ["Seccomp:", "0"]
