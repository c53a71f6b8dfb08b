"""Published ports on the real kernel: reachable through the host's address and 127.0.0.1,
gone without a trace when unpublished."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict

from ..fixtures.network import host_address, open_lab

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def fetch(host: str, port: int, timeout: float = 3) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=timeout) as r:
        return r.read().decode()


def serve_http(lab, ctr, body: str) -> subprocess.Popen:
    www = lab.scratch / f"www-{ctr.name}"
    www.mkdir()
    (www / "index.html").write_text(body)
    proc = lab.spawn(ctr, f"exec httpd -f -p 80 -h {www}")
    # Wait until it listens inside (the kernel, not a timer, decides when that is).
    for _ in range(200):
        # httpd listens on [::]:80, which takes IPv4 too
        if ":0050 " in lab.sh(ctr, "cat /proc/net/tcp /proc/net/tcp6").stdout.upper():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("httpd did not start listening")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_published_port_answers_on_host_address_and_loopback(lab):
    lab.network("front", subnet=lab.subnet())
    web = lab.container("web", ["front"])
    server = serve_http(lab, web, "hello from web")
    try:
        fixed = free_port()
        chosen = lab.svc.publish(web.cid, [
            {"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": None},
            {"container_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": fixed},
        ], lab.ip_of(web, "front"))
        ephemeral = chosen[0]["host_port"]
        assert chosen[0]["host_ip"] == "0.0.0.0" and chosen[1] == {
            "container_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": fixed}
        lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        assert lo <= ephemeral <= hi

        assert fetch(host_address(), ephemeral) == "hello from web"
        assert fetch("127.0.0.1", ephemeral) == "hello from web"
        assert fetch("127.0.0.1", fixed) == "hello from web"
        with pytest.raises(OSError):
            fetch(host_address(), fixed, timeout=1)   # bound to 127.0.0.1 only

        # another container reaches it through the host's address too (hairpin)
        other = lab.container("other", ["front"])
        # (busybox's wget crashes on this platform; nc speaks the HTTP)
        got = lab.sh(other, f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host_address()} {ephemeral}")
        assert got.stdout.startswith("HTTP/1.") and got.stdout.endswith("hello from web")
        # and the container itself, through its own published port (hairpin mode on its port)
        got = lab.sh(web, f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host_address()} {ephemeral}")
        assert got.stdout.endswith("hello from web")
        assert lab.svc.ports(web.cid) == chosen

        with pytest.raises(Conflict, match="already allocated"):
            lab.svc.publish(other.cid, [{"container_port": 80, "protocol": "tcp", "host_ip": "",
                                         "host_port": ephemeral}], lab.ip_of(other, "front"))

        lab.svc.unpublish(web.cid)
        table = subprocess.run(["nft", "list", "table", "ip", lab.svc.names.table], capture_output=True,
                               text=True).stdout
        assert "dnat to" not in table and table  # the table stays while the bridge does
        with pytest.raises((urllib.error.URLError, OSError)):
            fetch("127.0.0.1", ephemeral, timeout=1)
    finally:
        server.kill()
        server.wait()


def test_port_taken_by_another_program_is_refused(lab):
    lab.network("front", subnet=lab.subnet())
    web = lab.container("web", ["front"])
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(Conflict, match="address already in use"):
            lab.svc.publish(web.cid, [{"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": port}],
                            lab.ip_of(web, "front"))
    assert lab.svc.ports(web.cid) == []


def test_udp_port_is_forwarded(lab):
    lab.network("front", subnet=lab.subnet())
    echo = lab.container("echo", ["front"])
    # busybox's nc has no UDP: a python receiver inside the namespace prints one datagram
    receiver = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.bind(('0.0.0.0', 9999)); print(s.recv(100).decode(), flush=True)")
    proc = lab.spawn(echo, f"exec /usr/bin/python3 -c \"{receiver}\"")
    try:
        for _ in range(200):
            if ":270F " in lab.sh(echo, "cat /proc/net/udp").stdout.upper():
                break
            time.sleep(0.05)
        chosen = lab.svc.publish(echo.cid, [{"container_port": 9999, "protocol": "udp", "host_ip": "",
                                             "host_port": None}], lab.ip_of(echo, "front"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ping over udp\n", (host_address(), chosen[0]["host_port"]))
        out, _ = proc.communicate(timeout=10)
        assert "ping over udp" in out
    finally:
        proc.kill()
        proc.wait()
