"""DNS messages on the wire (RFC 1035), the little that a container's resolver needs; pure.

Queries come from containers, which are not trusted: the parser is strict (one question,
no compression in it, label and name lengths as the RFC caps them, a size cap on the whole
message) and raises ``DnsFormatError`` instead of guessing.
"""
from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAX_MESSAGE = 4096          # EDNS0 sizes in practice; anything larger is refused unread
MAX_UDP_REPLY = 512         # without EDNS0, a UDP answer must fit in 512 bytes
TTL = 600                   # what Docker's embedded DNS gives its records

TYPE_A, TYPE_PTR, TYPE_AAAA, TYPE_ANY = 1, 12, 28, 255
CLASS_IN = 1
OP_QUERY = 0
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

_HEADER = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")


class DnsFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    name: str           # lower-case, no trailing dot ("" for the root)
    qtype: int
    qclass: int
    question: bytes     # the question section as received, echoed in answers

    @property
    def recursion_desired(self) -> bool:
        return bool(self.flags & 0x0100)


def parse_name(data: bytes, offset: int) -> tuple[str, int]:
    """A name without compression; returns (name, offset after it)."""
    labels = []
    total = 0
    while True:
        if offset >= len(data):
            raise DnsFormatError("name runs past the end of the message")
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0:
            raise DnsFormatError("compressed or extended label in a question")
        if offset + length > len(data):
            raise DnsFormatError("label runs past the end of the message")
        total += length + 1
        if total > 254:
            raise DnsFormatError("name longer than 255 bytes")
        labels.append(data[offset:offset + length])
        offset += length
    try:
        name = ".".join(label.decode("ascii") for label in labels)
    except UnicodeDecodeError:
        raise DnsFormatError("name is not ASCII") from None
    return name.lower(), offset


def parse_query(data: bytes) -> Query:
    if len(data) > MAX_MESSAGE:
        raise DnsFormatError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE}")
    if len(data) < _HEADER.size:
        raise DnsFormatError("message shorter than a DNS header")
    qid, flags, qd, an, ns, _ar = _HEADER.unpack_from(data)
    if flags & 0x8000:
        raise DnsFormatError("a response, not a query")
    if qd != 1 or an or ns:
        raise DnsFormatError("a query must have exactly one question and no answers")
    name, off = parse_name(data, _HEADER.size)
    if off + _QTAIL.size > len(data):
        raise DnsFormatError("question truncated")
    qtype, qclass = _QTAIL.unpack_from(data, off)
    off += _QTAIL.size
    return Query(qid, flags, name, qtype, qclass, data[_HEADER.size:off])


def header_id(data: bytes) -> int | None:
    return struct.unpack_from("!H", data)[0] if len(data) >= 2 else None


def opcode(flags: int) -> int:
    return (flags >> 11) & 0xF


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsFormatError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    out.append(0)
    if len(out) > 255:
        raise DnsFormatError(f"name {name!r} is too long")
    return bytes(out)


def _flags(query: Query, rcode: int, truncated: bool = False) -> int:
    # QR, the query's opcode and RD echoed, AA (we are the authority for our names), RA.
    flags = 0x8000 | (query.flags & 0x7800) | (query.flags & 0x0100) | 0x0400 | 0x0080 | (rcode & 0xF)
    return flags | 0x0200 if truncated else flags


def response(query: Query, rcode: int = NOERROR, answers: Sequence[tuple[int, bytes]] = (),
             max_size: int | None = MAX_UDP_REPLY) -> bytes:
    """An answer to ``query``: ``answers`` are (type, rdata) records for the queried name.

    Past ``max_size`` (UDP without EDNS0) the answer is cut and flagged TC, so the client
    asks again over TCP (``max_size=None``).
    """
    records = []
    size = _HEADER.size + len(query.question)
    cut = False
    for rtype, rdata in answers:
        # 0xC00C points at the question's name, right after the header.
        rr = b"\xc0\x0c" + _RR.pack(rtype, CLASS_IN, TTL, len(rdata)) + rdata
        if max_size is not None and size + len(rr) > max_size:
            cut = True
            break
        records.append(rr)
        size += len(rr)
    head = _HEADER.pack(query.id, _flags(query, rcode, cut), 1, len(records), 0, 0)
    return head + query.question + b"".join(records)


def error_for(data: bytes, rcode: int) -> bytes | None:
    """A bare error answer for a message we could not parse; None if it has no header."""
    if len(data) < _HEADER.size:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return None  # never answer a response: that is how reflection loops start
    flags = 0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | (rcode & 0xF)
    return _HEADER.pack(qid, flags, 0, 0, 0, 0)


def a_rdata(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def ptr_address(name: str) -> str | None:
    """``2.0.17.172.in-addr.arpa`` -> ``172.17.0.2``; None for any other name."""
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        return None
    return ".".join(reversed(parts))


def parse_response_header(data: bytes) -> tuple[int, int]:
    """(id, rcode) of an upstream answer; raises on anything that is not a response."""
    if len(data) < _HEADER.size or len(data) > 65535:
        raise DnsFormatError("bad response size")
    qid, flags = struct.unpack_from("!HH", data)
    if not flags & 0x8000:
        raise DnsFormatError("not a response")
    return qid, flags & 0xF
