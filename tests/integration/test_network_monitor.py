"""The DNS responder hosted by a real container monitor (RunOptions["dns"]), end to end with
the runtime: a busybox container in a lab namespace resolves and pings its neighbour by name."""
from __future__ import annotations

import pytest

from ..fixtures.network import open_lab
from ..fixtures.runtime import (  # noqa: F401 - fixtures
    busybox_lower,
    oci_spec,
    read_log_text,
    rootfs,
    run_options,
    runtime,
    write_bundle,
)

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def test_monitor_hosts_the_responder(lab, paths, runtime, rootfs):  # noqa: F811
    lab.network("front", subnet=lab.subnet())
    web = lab.container("web", ["front"], aliases=["www"])
    client = lab.container("client", ["front"])
    resolv = lab.scratch / "client-resolv.conf"
    resolv.write_text(lab.svc.resolv_conf(["front"]))
    mounts = [{"destination": "/etc/resolv.conf", "type": "bind", "source": str(resolv),
               "options": ["rbind", "ro"]}]
    # The monitor starts its services just after the container's process: until the runtime
    # starts them first, the container may ask before the responder listens, so it retries.
    script = ("for i in $(seq 100); do nslookup www >/tmp/out 2>&1 && break; sleep 0.05; done; cat /tmp/out; "
              "ping -c1 -W3 web && echo PINGED")
    spec = oci_spec(rootfs, ["sh", "-c", script], network=client.netns, mounts=mounts)
    opts = run_options(paths, client.cid, dns={"netns": client.netns, "listen": "127.0.0.11"})
    write_bundle(paths, client.cid, spec, opts)
    runtime.start(client.cid)
    code = runtime.wait(client.cid)
    log = read_log_text(paths, client.cid)
    assert code == 0, log
    assert lab.ip_of(web, "front") in log and "PINGED" in log
    runtime.delete(client.cid)
