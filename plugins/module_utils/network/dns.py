"""The DNS responder each container on a user-defined network talks to at 127.0.0.11:53.

It runs in the container's monitor (stdlib only: the monitor preloads this module), on two
sockets bound inside the container's network namespace (``open_dns_sockets``); the monitor
calls ``monitor_service`` (the runtime's service hook for RunOptions["dns"]), which registers
them so that ``DnsResponder.on_readable`` runs when one is readable. Answers come from
the endpoint records of the networks the container is on, read at each query (cached by file
identity), so containers that join are found at once and those that left are gone at once.

- A for the names, aliases, short ids and hostnames of containers on the same user-defined
  networks (also as ``name.network``), ANY as A, AAAA as an empty answer for those names,
  PTR for their addresses;
- NXDOMAIN for any other single-label name;
- anything else is forwarded, unchanged, to the host's resolvers over UDP (TCP when the
  client used TCP), from the monitor, which sits in the host's namespace; no forwarding for
  a container whose networks are all internal.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..paths import Paths
from . import dnswire as wire
from . import resolvconf
from .netns import run_in_netns
from .store import NetworkStore, check_cid

DNS_PORT = 53
FORWARD_TIMEOUT = 2.0       # per upstream server
TCP_IDLE_TIMEOUT = 5.0
MAX_IN_FLIGHT = 64          # forwarded queries and TCP clients at once; past it, SERVFAIL

Reply = Callable[[bytes], None]


def open_dns_sockets(netns_path: str, listen: str = resolvconf.EMBEDDED_DNS,
                     port: int = DNS_PORT) -> list[socket.socket]:
    """A UDP and a listening TCP socket on ``listen:port`` inside the namespace at ``netns_path``.

    They are made in a short-lived thread that entered the namespace; a socket keeps the
    namespace it was made in, and the caller's thread never leaves its own.
    """
    def inside() -> list[socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((listen, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((listen, port))
            tcp.listen(16)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        udp.setblocking(False)
        tcp.setblocking(False)
        return [udp, tcp]
    return run_in_netns(netns_path, inside)


class DnsResponder:
    def __init__(self, paths: Paths, cid: str, upstreams: Sequence[str] | None = None,
                 host_resolv_conf: str = resolvconf.HOST_RESOLV_CONF, upstream_port: int = DNS_PORT) -> None:
        self.paths = paths
        self.cid = check_cid(cid)
        self.store = NetworkStore(paths)
        self._upstreams = list(upstreams) if upstreams else None
        self._upstream_port = upstream_port
        self._resolv_path = host_resolv_conf
        self._resolv_key: tuple[int, ...] | None = None
        self._resolv_servers: list[str] = []
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    # --- the monitor's entry points -------------------------------------------------------
    def on_readable(self, sock: socket.socket) -> None:
        """Call when a socket from ``open_dns_sockets`` is readable; never blocks."""
        if sock.type == socket.SOCK_DGRAM:
            try:
                packet, addr = sock.recvfrom(wire.MAX_MESSAGE + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return

            def reply(data: bytes, _addr=addr) -> None:
                with contextlib.suppress(OSError):
                    sock.sendto(data, _addr)
            self.handle(packet, reply)
            return
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        if not self._slots.acquire(blocking=False):
            conn.close()
            return
        threading.Thread(target=self._serve_tcp, args=(conn,), daemon=True, name="berth-dns-tcp").start()

    def handle(self, packet: bytes, reply: Reply, tcp: bool = False) -> None:
        """Answer one query: locally at once, or forwarded from a short-lived thread."""
        try:
            query = wire.parse_query(packet)
        except wire.DnsFormatError:
            err = wire.error_for(packet, wire.FORMERR)
            if err:
                reply(err)
            return
        max_size = None if tcp else wire.MAX_UDP_REPLY
        if wire.opcode(query.flags) != wire.OP_QUERY:
            reply(wire.response(query, wire.NOTIMP, max_size=max_size))
            return
        local = self.answer_local(query, max_size)
        if local is not None:
            reply(local)
            return
        if not self._may_forward():
            reply(wire.response(query, wire.SERVFAIL, max_size=max_size))
            return
        if not self._slots.acquire(blocking=False):
            reply(wire.response(query, wire.SERVFAIL, max_size=max_size))
            return

        def forward() -> None:
            try:
                answer = self.forward(packet, query.id, tcp)
                reply(answer if answer is not None else wire.response(query, wire.SERVFAIL, max_size=max_size))
            finally:
                self._slots.release()
        if tcp:
            forward()  # already on the connection's own thread
        else:
            threading.Thread(target=forward, daemon=True, name="berth-dns-fwd").start()

    # --- local names ----------------------------------------------------------------------
    def _may_forward(self) -> bool:
        attached = self.store.container_endpoints(self.cid)
        return not attached or any(not rec.internal for rec, _ in attached)

    def lookup(self, name: str) -> list[str] | None:
        """Addresses for ``name`` on the container's user-defined networks; None if unknown."""
        ips: list[str] = []
        found = False
        for rec, _own in self.store.container_endpoints(self.cid):
            if not rec.user_defined or not rec.is_bridge:
                continue
            net = rec.name.lower()
            short = name[: -len(net) - 1] if name.endswith("." + net) else None
            for ep in self.store.endpoints(rec.id).values():
                names = {n.lower() for n in (ep.name, *ep.aliases, *ep.dns_names) if n}
                if name in names or (short is not None and short in names):
                    found = True
                    if ep.ip not in ips:
                        ips.append(ep.ip)
        return ips if found else None

    def reverse(self, ip: str) -> str | None:
        for rec, _own in self.store.container_endpoints(self.cid):
            if not rec.user_defined or not rec.is_bridge:
                continue
            for ep in self.store.endpoints(rec.id).values():
                if ep.ip == ip:
                    return f"{ep.name}.{rec.name}"
        return None

    def answer_local(self, query: wire.Query, max_size: int | None = wire.MAX_UDP_REPLY) -> bytes | None:
        """The answer from berth's records, or None when the query must be forwarded."""
        if query.qclass != wire.CLASS_IN:
            return None
        if query.qtype == wire.TYPE_PTR:
            addr = wire.ptr_address(query.name)
            target = self.reverse(addr) if addr else None
            if target is None:
                return None
            return wire.response(query, wire.NOERROR, [(wire.TYPE_PTR, wire.encode_name(target))],
                                 max_size=max_size)
        if query.qtype not in (wire.TYPE_A, wire.TYPE_AAAA, wire.TYPE_ANY):
            return None if "." in query.name else wire.response(query, wire.NXDOMAIN, max_size=max_size)
        ips = self.lookup(query.name)
        if ips is None:
            if query.name and "." not in query.name:
                return wire.response(query, wire.NXDOMAIN, max_size=max_size)
            return None
        if query.qtype == wire.TYPE_AAAA:
            return wire.response(query, wire.NOERROR, [], max_size=max_size)  # IPv4-only networks
        return wire.response(query, wire.NOERROR, [(wire.TYPE_A, wire.a_rdata(ip)) for ip in ips],
                             max_size=max_size)

    # --- forwarding ---------------------------------------------------------------------
    def upstreams(self) -> list[str]:
        if self._upstreams is not None:
            return self._upstreams
        try:
            st = os.stat(self._resolv_path)
            key = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        except OSError:
            key = (0, 0, 0, 0)
        if key != self._resolv_key:
            self._resolv_servers = resolvconf.upstream_servers(resolvconf.read_host(self._resolv_path))
            self._resolv_key = key
        return self._resolv_servers

    def forward(self, packet: bytes, qid: int, tcp: bool = False) -> bytes | None:
        """The first good answer of the upstream servers, or None when none answered."""
        for server in self.upstreams():
            try:
                port = self._upstream_port
                answer = _ask_tcp(server, port, packet) if tcp else _ask_udp(server, port, packet, qid)
            except (OSError, wire.DnsFormatError):
                continue
            if answer is not None:
                return answer
        return None

    # --- TCP clients --------------------------------------------------------------------
    def _serve_tcp(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(TCP_IDLE_TIMEOUT)
            while True:
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                if length > wire.MAX_MESSAGE:
                    return
                packet = _recv_exact(conn, length)
                if packet is None:
                    return
                out: list[bytes] = []
                self.handle(packet, out.append, tcp=True)
                for data in out:
                    conn.sendall(struct.pack("!H", len(data)) + data)
        except OSError:
            return
        finally:
            conn.close()
            self._slots.release()

    # --- a loop of our own, for tests and hosts without a monitor hook ----------------------
    def serve(self, socks: Sequence[socket.socket], stop: threading.Event) -> None:
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    self.on_readable(key.fileobj)  # type: ignore[arg-type]
        finally:
            sel.close()


def monitor_service(monitor: Any, args: dict[str, Any]) -> DnsResponder:
    """The runtime's service hook: the container's monitor calls this once the container runs.

    ``args`` is RunOptions["dns"]: ``{"netns": path, "listen": "127.0.0.11"}`` and optionally
    ``"upstreams"`` (the container's ``--dns`` servers). The sockets live as long as the
    monitor; a restart of the container keeps its namespace and so its responder.
    """
    netns_path = args.get("netns") or monitor.netns_path()
    socks = open_dns_sockets(netns_path, args.get("listen") or resolvconf.EMBEDDED_DNS)
    responder = DnsResponder(monitor.paths, monitor.cid, upstreams=args.get("upstreams") or None)
    for sock in socks:
        monitor.add_reader(sock.fileno(), lambda _fd, s=sock: responder.on_readable(s))

    def close(_code: int) -> None:
        for sock in socks:
            monitor.remove_reader(sock.fileno())
            sock.close()
    monitor.at_exit(close)
    return responder


def _server_addr(server: str, port: int) -> tuple[int, tuple[str, int] | tuple[str, int, int, int]]:
    if ":" in server:
        host, _, scope = server.partition("%")
        return socket.AF_INET6, (host, port, 0, socket.if_nametoindex(scope) if scope else 0)
    return socket.AF_INET, (server, port)


def _ask_udp(server: str, port: int, packet: bytes, qid: int) -> bytes | None:
    family, addr = _server_addr(server, port)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(FORWARD_TIMEOUT)
        s.connect(addr)
        s.send(packet)
        # A few stray datagrams (late answers to earlier queries) are skipped, not waited on forever.
        for _ in range(8):
            data = s.recv(65535)
            rid, _ = wire.parse_response_header(data)
            if rid == qid:
                return data
    return None


def _ask_tcp(server: str, port: int, packet: bytes) -> bytes | None:
    family, addr = _server_addr(server, port)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(FORWARD_TIMEOUT)
        s.connect(addr)
        s.sendall(struct.pack("!H", len(packet)) + packet)
        head = _recv_exact(s, 2)
        if head is None:
            return None
        data = _recv_exact(s, struct.unpack("!H", head)[0])
        if data is not None:
            wire.parse_response_header(data)
        return data


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
