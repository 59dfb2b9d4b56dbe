"""Blocked SYNs sent up to the controller: header records and TCP resets.

Pure and dependency-free (struct only), so it is unit-tested without Ryu and
the framework seam stays in one module. Only headers are ever read:
addresses, ports and flags. The payload is never looked at nor stored, since
the ISP is bound by secrecy of communications.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
TCP = 6
FLAG_FIN, FLAG_SYN, FLAG_RST, FLAG_ACK = 0x01, 0x02, 0x04, 0x10


@dataclasses.dataclass(frozen=True)
class TcpHeaders:
    """The headers of one sampled TCP segment (no payload)."""

    eth_src: bytes
    eth_dst: bytes
    vlan: int | None
    version: int
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload_len: int


def parse_tcp(frame: bytes) -> TcpHeaders | None:
    """Headers of an Ethernet (optionally 802.1Q) IPv4/IPv6 TCP frame, else None."""
    if len(frame) < 14:
        return None
    eth_dst, eth_src = frame[0:6], frame[6:12]
    (eth_type,) = struct.unpack_from("!H", frame, 12)
    offset, vlan = 14, None
    if eth_type == ETH_VLAN:
        if len(frame) < 18:
            return None
        tci, eth_type = struct.unpack_from("!HH", frame, 14)
        vlan, offset = tci & 0x0FFF, 18
    if eth_type == ETH_IPV4:
        if len(frame) < offset + 20:
            return None
        ihl = (frame[offset] & 0x0F) * 4
        (total_len,) = struct.unpack_from("!H", frame, offset + 2)
        if frame[offset + 9] != TCP or ihl < 20:
            return None
        src = str(ipaddress.IPv4Address(frame[offset + 12:offset + 16]))
        dst = str(ipaddress.IPv4Address(frame[offset + 16:offset + 20]))
        tcp_off, ip_payload = offset + ihl, total_len - ihl
        version = 4
    elif eth_type == ETH_IPV6:
        if len(frame) < offset + 40 or frame[offset + 6] != TCP:
            return None  # extension headers before TCP are not sampled
        (ip_payload,) = struct.unpack_from("!H", frame, offset + 4)
        src = str(ipaddress.IPv6Address(frame[offset + 8:offset + 24]))
        dst = str(ipaddress.IPv6Address(frame[offset + 24:offset + 40]))
        tcp_off, version = offset + 40, 6
    else:
        return None
    if len(frame) < tcp_off + 20:
        return None
    sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", frame, tcp_off)
    header_len = (off_flags >> 12) * 4
    return TcpHeaders(eth_src, eth_dst, vlan, version, src, dst, sport, dport, seq, ack,
                      off_flags & 0x3F, max(0, ip_payload - header_len))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_rst(syn: TcpHeaders) -> bytes:
    """The RST+ACK the destination would send: the client fails at once ("refused").

    Addressed back to the sender, from the address it tried to reach, as a
    closed port's answer, so mail clients report "connection refused" instead
    of waiting for a timeout.
    """
    ack = (syn.seq + max(1, syn.payload_len) + (1 if syn.flags & FLAG_FIN else 0)) & 0xFFFFFFFF
    tcp = struct.pack("!HHIIHHHH", syn.dport, syn.sport, 0, ack,
                      (5 << 12) | FLAG_RST | FLAG_ACK, 0, 0, 0)
    src, dst = ipaddress.ip_address(syn.dst).packed, ipaddress.ip_address(syn.src).packed
    if syn.version == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, TCP, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        eth_type = ETH_IPV4
    else:
        pseudo = src + dst + struct.pack("!I3xB", len(tcp), TCP)
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), TCP, 64, src, dst)
        eth_type = ETH_IPV6
    eth = syn.eth_src + syn.eth_dst
    if syn.vlan is not None:
        eth += struct.pack("!HH", ETH_VLAN, syn.vlan)
    return eth + struct.pack("!H", eth_type) + ip + tcp
