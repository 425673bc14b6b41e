# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: read resolv.conf as glibc does, and ask one DNS server about one name.

Pure functions and one UDP exchange, standard library only, no Ansible imports.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

# glibc uses at most this many nameserver lines (MAXNS in resolv.h); later ones are ignored.
MAXNS = 3
RCODES = {0: "ok", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp", 5: "refused"}
_TYPE_A = 1
_TYPE_AAAA = 28
_CLASS_IN = 1


class DnsError(ValueError):
    """A malformed DNS message or name."""


def parse_resolv_conf(text: str) -> dict:
    """nameservers (at most MAXNS, in order), search domains and options, as resolv.conf(5) reads them.

    Comments start with '#' or ';' at the start of a line; of 'domain' and 'search', the last one
    wins; a nameserver that is not an IP address is skipped (glibc ignores it too).
    """
    nameservers: list[str] = []
    ignored: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        words = line.split()
        keyword, args = words[0], words[1:]
        if keyword == "nameserver" and args:
            address = args[0]
            try:
                ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                ignored.append(address)
                continue
            if len(nameservers) < MAXNS:
                nameservers.append(address)
            else:
                ignored.append(address)
        elif keyword in ("search", "domain") and args:
            search = args if keyword == "search" else args[:1]
        elif keyword == "options":
            options += args
    return {"nameservers": nameservers, "ignored": ignored, "search": search, "options": options}


def encode_name(name: str) -> bytes:
    labels = name.rstrip(".").split(".")
    out = b""
    for label in labels:
        try:
            raw = label.encode("idna") if label else b""
        except UnicodeError as exc:
            raise DnsError(f"cannot look up {name!r}: {exc}") from exc
        if not raw or len(raw) > 63:
            raise DnsError(f"cannot look up {name!r}: empty or too long label")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(name: str, ident: int, qtype: int = _TYPE_A) -> bytes:
    """A standard recursive query (RD set) for one name."""
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack(">HH", qtype, _CLASS_IN)


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise DnsError("truncated name in DNS response")
        length = data[pos]
        if length & 0xC0 == 0xC0:  # compression pointer: two bytes, end of name
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def parse_response(data: bytes, ident: int) -> dict:
    """status (ok, nxdomain, servfail, ...) and the A/AAAA addresses of a response to our query."""
    if len(data) < 12:
        raise DnsError(f"DNS response of {len(data)} bytes is shorter than a header")
    rid, flags, qdcount, ancount, _nscount, _arcount = struct.unpack(">HHHHHH", data[:12])
    if rid != ident:
        raise DnsError(f"DNS response id {rid} does not match the query's {ident}")
    if not flags & 0x8000:
        raise DnsError("DNS message is a query, not a response")
    rcode = flags & 0x000F
    pos = 12
    for _question in range(qdcount):
        pos = _skip_name(data, pos) + 4
    addresses = []
    for _answer in range(ancount):
        pos = _skip_name(data, pos)
        if pos + 10 > len(data):
            raise DnsError("truncated answer in DNS response")
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        rdata = data[pos : pos + length]
        pos += length
        if rtype == _TYPE_A and length == 4:
            addresses.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == _TYPE_AAAA and length == 16:
            addresses.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return {"status": RCODES.get(rcode, f"rcode{rcode}"), "addresses": addresses}


def query(server: str, name: str, timeout: float = 2.0, port: int = 53) -> dict:
    """Ask one server about one name over UDP: status ok|nxdomain|...|timeout|error, addresses, error."""
    ident = int.from_bytes(os.urandom(2), "big")
    host = server.split("%", 1)[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        packet = build_query(name, ident)
    except DnsError as exc:
        return {"status": "error", "addresses": [], "error": str(exc)}
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(packet, (server, port))
            while True:
                data = sock.recvfrom(4096)[0]
                if len(data) >= 2 and struct.unpack(">H", data[:2])[0] == ident:
                    break
    except socket.timeout:
        return {"status": "timeout", "addresses": [], "error": f"no answer within {timeout:g} s"}
    except OSError as exc:
        return {"status": "error", "addresses": [], "error": str(exc)}
    try:
        return {**parse_response(data, ident), "error": ""}
    except DnsError as exc:
        return {"status": "error", "addresses": [], "error": str(exc)}
