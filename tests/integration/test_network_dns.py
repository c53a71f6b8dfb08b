"""The DNS responder inside a container's namespace: UDP and TCP, forwarding to upstream
resolvers (a small fake resolver of the test on a loopback address of the host)."""
from __future__ import annotations

import random
import socket
import struct
import threading

import pytest
from ansible_collections.berth.engine.plugins.module_utils.network import dnswire as wire
from ansible_collections.berth.engine.plugins.module_utils.network.netns import run_in_netns

from ..fixtures.network import open_lab

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def query(name: str, qtype: int = wire.TYPE_A, qid: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire.encode_name(name) + struct.pack("!HH", qtype, 1)


def answers(packet: bytes) -> tuple[int, list[str]]:
    """(rcode, IPv4 addresses of the A records) of a response to one of our queries."""
    rcode = struct.unpack_from("!H", packet, 2)[0] & 0xF
    count = struct.unpack_from("!H", packet, 6)[0]
    off = 12
    _, off = wire.parse_name(packet, off)
    off += 4
    ips = []
    for _ in range(count):
        assert packet[off:off + 2] == b"\xc0\x0c"
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", packet, off + 2)
        data = packet[off + 12:off + 12 + length]
        if rtype == wire.TYPE_A:
            ips.append(socket.inet_ntoa(data))
        off += 12 + length
    return rcode, ips


class FakeUpstream:
    """A resolver on 127.x.y.z:53 of the host that answers every A query with 203.0.113.7."""

    def __init__(self) -> None:
        self.addr = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((self.addr, 53))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.addr, 53))
        self.tcp.listen(4)
        self.seen: list[str] = []
        self.stop = False
        self.threads = [threading.Thread(target=self._udp, daemon=True),
                        threading.Thread(target=self._tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def _answer(self, data: bytes) -> bytes:
        q = wire.parse_query(data)
        self.seen.append(q.name)
        return wire.response(q, wire.NOERROR, [(wire.TYPE_A, socket.inet_aton("203.0.113.7"))])

    def _udp(self) -> None:
        while not self.stop:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            self.udp.sendto(self._answer(data), peer)

    def _tcp(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                n = struct.unpack("!H", conn.recv(2))[0]
                data = conn.recv(n)
                out = self._answer(data)
                conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self.stop = True
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def upstream():
    up = FakeUpstream()
    yield up
    up.close()


def ask_inside(netns: str, packet: bytes, tcp: bool = False) -> bytes:
    def inside() -> bytes:
        if tcp:
            with socket.create_connection(("127.0.0.11", 53), timeout=5) as s:
                s.sendall(struct.pack("!H", len(packet)) + packet)
                n = struct.unpack("!H", s.recv(2))[0]
                data = b""
                while len(data) < n:
                    data += s.recv(n - len(data))
                return data
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(packet, ("127.0.0.11", 53))
            return s.recv(4096)
    return run_in_netns(netns, inside)


def test_udp_and_tcp_answers_from_the_network(lab, upstream):
    lab.network("front", subnet=lab.subnet())
    web = lab.container("web", ["front"], aliases=["www"])
    client = lab.container("client", ["front"], dns_server=True, upstreams=[upstream.addr])
    ip = lab.ip_of(web, "front")

    for tcp in (False, True):
        rcode, ips = answers(ask_inside(client.netns, query("web"), tcp=tcp))
        assert (rcode, ips) == (wire.NOERROR, [ip])
        assert answers(ask_inside(client.netns, query("WWW.front"), tcp=tcp)) == (wire.NOERROR, [ip])
        assert answers(ask_inside(client.netns, query(web.cid[:12]), tcp=tcp)) == (wire.NOERROR, [ip])
        assert answers(ask_inside(client.netns, query("nobody"), tcp=tcp))[0] == wire.NXDOMAIN
    # AAAA of a known name: no records, no error (the networks are IPv4-only)
    assert answers(ask_inside(client.netns, query("web", wire.TYPE_AAAA))) == (wire.NOERROR, [])
    # PTR of the address gives name.network
    rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    out = ask_inside(client.netns, query(rev, wire.TYPE_PTR))
    assert wire.encode_name("web.front") in out
    assert upstream.seen == []   # none of those left the host


def test_other_names_are_forwarded_to_the_host_resolvers(lab, upstream):
    lab.network("front", subnet=lab.subnet())
    client = lab.container("client", ["front"], dns_server=True, upstreams=[upstream.addr])
    rcode, ips = answers(ask_inside(client.netns, query("example.org", qid=777)))
    assert (rcode, ips) == (wire.NOERROR, ["203.0.113.7"])
    assert answers(ask_inside(client.netns, query("example.net"), tcp=True)) == (wire.NOERROR, ["203.0.113.7"])
    assert upstream.seen == ["example.org", "example.net"]
    # busybox's resolver inside the container, through resolv.conf -> 127.0.0.11
    out = lab.sh(client, "nslookup mirror.example.com")
    assert "203.0.113.7" in out.stdout


def test_internal_only_containers_do_not_forward(lab, upstream):
    lab.network("sealed", subnet=lab.subnet(), internal=True)
    peer = lab.container("peer", ["sealed"])
    c = lab.container("c", ["sealed"], dns_server=True, upstreams=[upstream.addr])
    assert answers(ask_inside(c.netns, query("peer"))) == (wire.NOERROR, [lab.ip_of(peer, "sealed")])
    assert answers(ask_inside(c.netns, query("example.org")))[0] == wire.SERVFAIL
    assert upstream.seen == []


def test_malformed_queries_get_formerr_or_nothing(lab):
    lab.network("front", subnet=lab.subnet())
    c = lab.container("c", ["front"], dns_server=True, upstreams=["127.0.0.1"])
    bad = struct.pack("!HHHHHH", 99, 0x0100, 2, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01"
    out = ask_inside(c.netns, bad)
    assert struct.unpack_from("!H", out)[0] == 99 and out[3] & 0xF == wire.FORMERR
    # the responder still answers afterwards
    assert answers(ask_inside(c.netns, query("c")))[0] == wire.NOERROR
