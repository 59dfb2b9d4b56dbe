"""Header parsing and TCP resets, checked against scapy (an independent implementation)."""

from __future__ import annotations

import pytest
from scapy.all import IP, TCP, Dot1Q, Ether, IPv6, Raw

from op25b_app.core import packets as sampling


def frame(ip, vlan=None, payload=b""):
    eth = Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02")
    layers = eth / Dot1Q(vlan=vlan) / ip if vlan is not None else eth / ip
    syn = layers / TCP(sport=40000, dport=25, flags="S", seq=123456) / Raw(payload) \
        if payload else layers / TCP(sport=40000, dport=25, flags="S", seq=123456)
    return bytes(syn)


@pytest.mark.parametrize("vlan", [None, 10])
@pytest.mark.parametrize("ip", [IP(src="10.25.0.11", dst="10.25.0.100"),
                                IPv6(src="fd25::11", dst="fd25::100")])
def test_parse_then_reset_is_a_valid_rst_ack_back_to_the_sender(ip, vlan):
    headers = sampling.parse_tcp(frame(ip, vlan))
    assert headers is not None
    assert (headers.src, headers.dst, headers.sport, headers.dport) == (
        ip.src, ip.dst, 40000, 25)
    assert headers.flags == sampling.FLAG_SYN and headers.vlan == vlan
    rst = Ether(sampling.build_rst(headers))
    tcp = rst[TCP]
    assert tcp.flags == "RA" and tcp.ack == 123457 and (tcp.sport, tcp.dport) == (25, 40000)
    assert rst.dst == "00:00:00:00:00:01" and rst.src == "00:00:00:00:00:02"
    layer = rst[IP] if ip.version == 4 else rst[IPv6]
    assert (layer.src, layer.dst) == (ip.dst, ip.src)
    if vlan is not None:
        assert rst[Dot1Q].vlan == vlan
    # Checksums as scapy computes them.
    wire = bytes(rst)
    again = Ether(wire)
    del again[TCP].chksum
    if ip.version == 4:
        del again[IP].chksum
        assert Ether(bytes(again))[IP].chksum == rst[IP].chksum
    assert Ether(bytes(again))[TCP].chksum == tcp.chksum


def test_payload_is_never_part_of_the_record():
    headers = sampling.parse_tcp(frame(IP(src="10.0.0.1", dst="10.0.0.2"), payload=b"secret"))
    assert headers.payload_len == 6
    assert b"secret" not in repr(headers).encode()


def test_non_tcp_and_truncated_frames_are_ignored():
    assert sampling.parse_tcp(b"\x00" * 10) is None
    udp = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", proto=17) / Raw(b"x" * 20))
    assert sampling.parse_tcp(udp) is None
