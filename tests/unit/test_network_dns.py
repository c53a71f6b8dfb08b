"""The DNS wire format and the responder's answers, from endpoint records on a temporary root
(no namespaces: the responder is called directly, forwarding goes to a resolver of the test
on 127.0.0.1)."""
import socket
import struct
import threading

import pytest
from ansible_collections.berth.engine.plugins.module_utils.network import dnswire as wire
from ansible_collections.berth.engine.plugins.module_utils.network.dns import DnsResponder
from ansible_collections.berth.engine.plugins.module_utils.network.model import (
    Endpoint,
    NetworkRecord,
    NetworkSpec,
)
from ansible_collections.berth.engine.plugins.module_utils.network.store import NetworkStore

C1, C2, C3 = "1" * 64, "2" * 64, "3" * 64


def query(name, qtype=wire.TYPE_A, qid=0x4242, flags=0x0100):
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + wire.encode_name(name) + struct.pack("!HH", qtype, 1)


def decode(packet):
    qid, flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", packet)
    off = 12
    name, off = wire.parse_name(packet, off)
    off += 4
    records = []
    for _ in range(an):
        assert packet[off:off + 2] == b"\xc0\x0c"
        rtype, _cls, ttl, length = struct.unpack_from("!HHIH", packet, off + 2)
        records.append((rtype, packet[off + 12:off + 12 + length]))
        off += 12 + length
    return {"id": qid, "rcode": flags & 0xF, "qr": bool(flags & 0x8000), "tc": bool(flags & 0x200),
            "name": name, "records": records}


# --- wire ------------------------------------------------------------------------------------

def test_parse_query_reads_one_question():
    q = wire.parse_query(query("Web.Example."))
    assert (q.id, q.name, q.qtype, q.qclass, q.recursion_desired) == (0x4242, "web.example", 1, 1, True)


@pytest.mark.parametrize("packet, message", [
    (b"\x00\x01", "shorter than a DNS header"),
    (struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01", "a response"),
    (struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0) + b"\x00\x00\x01\x00\x01", "exactly one question"),
    (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", "compressed"),
    (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab", "past the end"),
    (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x01a\x00\x00", "truncated"),
    (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01", "longer"),
    (b"\x00" * 5000, "larger than"),
])
def test_parse_query_is_strict(packet, message):
    with pytest.raises(wire.DnsFormatError, match=message):
        wire.parse_query(packet)


def test_response_and_truncation():
    q = wire.parse_query(query("many"))
    answers = [(wire.TYPE_A, bytes([10, 0, i // 256, i % 256])) for i in range(40)]
    udp = decode(wire.response(q, wire.NOERROR, answers))
    assert udp["tc"] and len(udp["records"]) == (512 - 12 - len(q.question)) // 16
    tcp = decode(wire.response(q, wire.NOERROR, answers, max_size=None))
    assert not tcp["tc"] and len(tcp["records"]) == 40 and tcp["qr"] and tcp["id"] == 0x4242


def test_error_for_never_answers_a_response():
    assert wire.error_for(b"\x00\x07\x81\x00" + b"\x00" * 8, wire.FORMERR) is None
    err = wire.error_for(b"\x00\x07\x01\x00" + b"\x00" * 8, wire.FORMERR)
    assert struct.unpack("!HH", err[:4]) == (7, 0x8000 | 0x0100 | 0x0080 | wire.FORMERR)
    assert wire.error_for(b"\x00", wire.FORMERR) is None


def test_names_and_reverse_names():
    assert wire.encode_name("a.bc.") == b"\x01a\x02bc\x00"
    assert wire.encode_name("") == b"\x00"
    with pytest.raises(wire.DnsFormatError):
        wire.encode_name("a" * 64 + ".x")
    assert wire.ptr_address("2.0.17.172.in-addr.arpa") == "172.17.0.2"
    assert wire.ptr_address("2.0.17.in-addr.arpa") is None
    assert wire.ptr_address("999.0.17.172.in-addr.arpa") is None
    assert wire.ptr_address("example.org") is None


# --- responder -------------------------------------------------------------------------------

def _record(nid, name, subnet, internal=False, builtin=False):
    spec = None if builtin else NetworkSpec(internal=internal)
    gw = subnet.rsplit(".", 1)[0] + ".1"
    return NetworkRecord(nid, name, "bridge", "2026-01-01T00:00:00Z", spec, subnet + "/24", gw, "", "br-x",
                         builtin=builtin)


def _ep(cid, name, ip, ifname="eth0", aliases=()):
    dns_names = (name, *aliases, cid[:12])
    return Endpoint(cid, name, "e" * 64, ip, 24, "02:42:00:00:00:00", "vethx", ifname, "/ns", tuple(aliases),
                    dns_names)


@pytest.fixture
def store(paths):
    s = NetworkStore(paths)
    front, back, sealed, default = "a" * 64, "b" * 64, "c" * 64, "d" * 64
    s.save(_record(front, "front", "10.1.0.0"))
    s.save(_record(back, "back", "10.2.0.0"))
    s.save(_record(sealed, "sealed", "10.3.0.0", internal=True))
    s.save(_record(default, "bridge", "172.17.0.0", builtin=True))
    s.save_endpoints(front, {C1: _ep(C1, "web", "10.1.0.2", aliases=("www",)), C2: _ep(C2, "client", "10.1.0.3")})
    s.save_endpoints(back, {C1: _ep(C1, "web", "10.2.0.2", "eth1"), C3: _ep(C3, "db", "10.2.0.3")})
    s.save_endpoints(sealed, {C3: _ep(C3, "db", "10.3.0.3", "eth1")})
    s.save_endpoints(default, {C2: _ep(C2, "client", "172.17.0.2", "eth1"),
                               C3: _ep(C3, "db", "172.17.0.3", "eth2")})
    return s


def ask(responder, packet, tcp=False):
    out = []
    responder.handle(packet, out.append, tcp=tcp)
    assert len(out) == 1
    return decode(out[0])


def a_records(reply):
    return [socket.inet_ntoa(d) for t, d in reply["records"] if t == wire.TYPE_A]


def test_names_on_shared_user_networks_resolve(paths, store):
    r = DnsResponder(paths, C2, upstreams=["127.0.0.1"])
    assert a_records(ask(r, query("web"))) == ["10.1.0.2"]
    assert a_records(ask(r, query("www"))) == ["10.1.0.2"]
    assert a_records(ask(r, query("WEB.front"))) == ["10.1.0.2"]
    assert a_records(ask(r, query(C1[:12]))) == ["10.1.0.2"]
    assert a_records(ask(r, query("web", wire.TYPE_ANY))) == ["10.1.0.2"]
    aaaa = ask(r, query("web", wire.TYPE_AAAA))
    assert (aaaa["rcode"], aaaa["records"]) == (wire.NOERROR, [])
    # db shares only the default bridge (no names there) and nothing else with client
    assert ask(r, query("db"))["rcode"] == wire.NXDOMAIN
    assert ask(r, query("nobody"))["rcode"] == wire.NXDOMAIN


def test_a_container_on_two_networks_sees_both(paths, store):
    r = DnsResponder(paths, C1, upstreams=["127.0.0.1"])
    assert a_records(ask(r, query("db"))) == ["10.2.0.3"]
    assert a_records(ask(r, query("client"))) == ["10.1.0.3"]
    assert a_records(ask(r, query("web"))) == ["10.1.0.2", "10.2.0.2"]
    ptr = ask(r, query("3.0.2.10.in-addr.arpa", wire.TYPE_PTR))
    assert ptr["records"] == [(wire.TYPE_PTR, wire.encode_name("db.back"))]


def test_joins_and_leaves_are_seen_at_once(paths, store):
    r = DnsResponder(paths, C2, upstreams=["127.0.0.1"])
    assert ask(r, query("late"))["rcode"] == wire.NXDOMAIN
    eps = store.endpoints("a" * 64)
    eps["4" * 64] = _ep("4" * 64, "late", "10.1.0.9")
    store.save_endpoints("a" * 64, eps)
    assert a_records(ask(r, query("late"))) == ["10.1.0.9"]
    del eps["4" * 64]
    store.save_endpoints("a" * 64, eps)
    assert ask(r, query("late"))["rcode"] == wire.NXDOMAIN


def test_malformed_and_unsupported_queries(paths, store):
    r = DnsResponder(paths, C2, upstreams=["127.0.0.1"])
    out = []
    r.handle(b"\x01\x02\x01\x00" + b"\x00" * 8, out.append)
    assert decode_header(out[0]) == (0x0102, wire.FORMERR)
    out.clear()
    r.handle(b"\x01", out.append)
    assert out == []
    notify = query("web", flags=4 << 11)
    assert ask(r, notify)["rcode"] == wire.NOTIMP


def decode_header(packet):
    qid, flags = struct.unpack_from("!HH", packet)
    return qid, flags & 0xF


class Upstream:
    def __init__(self):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(2)
        self.names = []
        threading.Thread(target=self.serve_udp, daemon=True).start()
        threading.Thread(target=self.serve_tcp, daemon=True).start()

    def answer(self, data):
        q = wire.parse_query(data)
        self.names.append(q.name)
        return wire.response(q, wire.NOERROR, [(wire.TYPE_A, socket.inet_aton("198.51.100.9"))])

    def serve_udp(self):
        while True:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            # a stray answer with another id first: the responder must skip it
            self.udp.sendto(b"\x99\x99" + self.answer(data)[2:], peer)
            self.udp.sendto(self.answer(data), peer)

    def serve_tcp(self):
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                n = struct.unpack("!H", conn.recv(2))[0]
                out = self.answer(conn.recv(n))
                conn.sendall(struct.pack("!H", len(out)) + out)


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.udp.close()
    u.tcp.close()


def test_other_names_are_forwarded(paths, store, upstream):
    r = DnsResponder(paths, C2, upstreams=["127.0.0.1"], upstream_port=upstream.port)
    done = threading.Event()
    got = []
    r.handle(query("example.org", qid=77), lambda d: (got.append(d), done.set()))
    assert done.wait(10)
    reply = decode(got[0])
    assert reply["id"] == 77 and a_records(reply) == ["198.51.100.9"]
    tcp = ask(r, query("example.net", qid=78), tcp=True)
    assert tcp["id"] == 78 and a_records(tcp) == ["198.51.100.9"]
    assert "example.org" in upstream.names and "example.net" in upstream.names


def test_unreachable_upstreams_give_servfail(paths, store):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    r = DnsResponder(paths, C2, upstreams=["127.0.0.1"], upstream_port=dead_port)
    assert ask(r, query("example.org"), tcp=True)["rcode"] == wire.SERVFAIL


def test_internal_only_containers_do_not_forward(paths, store):
    # db (C3) is on back (not internal) too, so give it a container only on 'sealed'
    eps = store.endpoints("c" * 64)
    eps["5" * 64] = _ep("5" * 64, "lonely", "10.3.0.5")
    store.save_endpoints("c" * 64, eps)
    r = DnsResponder(paths, "5" * 64, upstreams=["127.0.0.1"])
    assert a_records(ask(r, query("db"))) == ["10.3.0.3"]
    assert ask(r, query("example.org"))["rcode"] == wire.SERVFAIL


def test_upstreams_come_from_the_host_resolv_conf(paths, store, tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp\n")
    r = DnsResponder(paths, C2, host_resolv_conf=str(conf))
    assert r.upstreams() == ["127.0.0.53", "192.0.2.53"]   # loopback works from the host's namespace
    conf.write_text("# nothing\n")
    assert r.upstreams() == ["8.8.8.8", "8.8.4.4"]
