"""Crafted packets a customer who wants to spam would send, and what op25b must do.

Each probe class builds the frames of one TCP SYN to a port: fragmented at
several sizes, in and out of order, with overlapping fragments, with IPv4
options and IPv6 extension headers, single- and double-tagged. ``EXPECT``
says, per class and port, what must happen on the server's wire:

* ``blocked``  - nothing of the SYN's transport header reaches the server and
                 the server's TCP never answers;
* ``answered`` - the SYN reaches the server and its TCP answers (SYN-ACK);
* ``reaches``  - frames of the probe reach the server (whether its kernel then
                 accepts them is the receiver's business, e.g. single-tagged
                 frames for a VLAN the server has no interface in).

Decisions the table encodes (README, "Crafted packets"):

* A first fragment too short to hold the whole TCP header shows the switch no
  ports, so it is dropped whatever its port ("tiny", both ports blocked). No
  real TCP stack sends one: IPv4's smallest MTU (68) leaves 48 bytes, enough
  for a 40-byte TCP header with options, and IPv6's is 1280.
* Frames whose IP the switch cannot see into (two VLAN tags) are dropped from
  customer ports whatever they carry, unless the attachment carries them.
* Overlapping IPv6 fragments where a later fragment rewrites the TCP header of
  an allowed first fragment reach the server as fragments; receivers discard
  overlapping IPv6 fragments (RFC 5722), so the server must never answer.

Run on a lab host (``python -m tests.lab.crafted ...``, from the repository),
it sends the probes and prints a JSON manifest the test judges the capture by.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

BLOCKED, ANSWERED, REACHES = "blocked", "answered", "reaches"
SPORT_BASE = 31000

#: class -> (expected for port 25, expected for port 587) from a *blocked* customer.
EXPECT: dict[str, tuple[str, str]] = {
    "v4_plain": (BLOCKED, ANSWERED),
    "v6_plain": (BLOCKED, ANSWERED),
    "v4_options": (BLOCKED, ANSWERED),
    "v6_hop_by_hop": (BLOCKED, ANSWERED),
    "v6_dest_options": (BLOCKED, ANSWERED),
    "v6_atomic_fragment": (BLOCKED, ANSWERED),
    "v4_frag_full_header": (BLOCKED, ANSWERED),
    "v6_frag_full_header": (BLOCKED, ANSWERED),
    "v4_frag_out_of_order": (BLOCKED, ANSWERED),
    "v6_frag_out_of_order": (BLOCKED, ANSWERED),
    "v4_tiny_8": (BLOCKED, BLOCKED),
    "v4_tiny_16": (BLOCKED, BLOCKED),
    "v4_tiny_24": (BLOCKED, BLOCKED),
    "v6_tiny_8": (BLOCKED, BLOCKED),
    "v6_tiny_16": (BLOCKED, BLOCKED),
    "v6_truncated_chain": (BLOCKED, BLOCKED),
    "v4_overlap_first": (BLOCKED, ANSWERED),
    "v4_overlap_later": (BLOCKED, REACHES),
    "v6_overlap_rewrite": (BLOCKED, REACHES),
    "vlan0": (BLOCKED, REACHES),
    "vlan5": (BLOCKED, REACHES),
    "qinq_88a8_v4": (BLOCKED, BLOCKED),
    "qinq_88a8_v6": (BLOCKED, BLOCKED),
    "double_8100_v4": (BLOCKED, BLOCKED),
    "double_8100_v6": (BLOCKED, BLOCKED),
}
#: What an exempt customer's fragmented mail must do: pass (and be answered).
EXEMPT_EXPECT: dict[str, str] = {
    "v4_plain": ANSWERED,
    "v4_frag_full_header": ANSWERED,
    "v6_frag_full_header": ANSWERED,
    "v4_frag_out_of_order": ANSWERED,
}


@dataclasses.dataclass(frozen=True)
class Endpoints:
    iface: str
    src_mac: str
    dst_mac: str
    src4: str
    dst4: str
    src6: str
    dst6: str


def _syn(ep: Endpoints, v6: bool, sport: int, dport: int, **ip_fields: object):  # noqa: ANN202
    from scapy.all import IP, TCP, IPv6, Raw

    # 40 bytes of header (with options) and 32 of data, so that a first
    # fragment can hold the whole header and still leave something to fragment.
    tcp = TCP(sport=sport, dport=dport, flags="S", seq=sport * 1000,
              options=[("MSS", 1400), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                       ("WScale", 7)]) / Raw(b"op25b crafted probe, ignore me.")
    if v6:
        return IPv6(src=ep.src6, dst=ep.dst6, **ip_fields), tcp
    return IP(src=ep.src4, dst=ep.dst4, id=sport, **ip_fields), tcp


def build(name: str, ep: Endpoints, sport: int, dport: int) -> list:
    """The frames of probe class ``name`` (a SYN from ``sport`` to ``dport``)."""
    from scapy.all import (
        IP,
        Dot1Q,
        Ether,
        IPOption_RR,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        PadN,
        Raw,
        fragment,
        fragment6,
    )

    eth = Ether(src=ep.src_mac, dst=ep.dst_mac)
    v6 = "v6" in name
    ip, tcp = _syn(ep, v6, sport, dport)
    if name in ("v4_plain", "v6_plain"):
        return [eth / ip / tcp]
    if name == "v4_options":
        return [eth / IP(src=ep.src4, dst=ep.dst4, id=sport, options=[IPOption_RR()]) / tcp]
    if name == "v6_hop_by_hop":
        return [eth / ip / IPv6ExtHdrHopByHop() / tcp]
    if name == "v6_dest_options":
        return [eth / ip / IPv6ExtHdrDestOpt() / tcp]
    if name == "v6_atomic_fragment":
        return [eth / ip / IPv6ExtHdrFragment(id=sport, m=0, offset=0) / tcp]
    if name.startswith("v4_frag_") or name.startswith("v4_tiny_"):
        size = 48 if "full" in name or "order" in name else int(name.rsplit("_", 1)[1])
        frames = [eth / f for f in fragment(ip / tcp, fragsize=size)]
        return frames[::-1] if "order" in name else frames
    if name.startswith("v6_frag_") or name.startswith("v6_tiny_"):
        size = 48 if "full" in name or "order" in name else int(name.rsplit("_", 1)[1])
        whole = ip / IPv6ExtHdrFragment(id=sport) / tcp
        frames = [eth / f for f in fragment6(whole, 40 + 8 + size)]
        return frames[::-1] if "order" in name else frames
    if name == "v6_truncated_chain":
        long_opts = IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 30)])
        whole = ip / IPv6ExtHdrFragment(id=sport) / long_opts / tcp
        return [eth / f for f in fragment6(whole, 40 + 8 + 16)]
    if name == "v4_overlap_first":
        # Two first fragments of one datagram: the allowed one (to 587) and a
        # rewrite to ``dport``; then the rest of the header.
        allowed = _syn(ep, False, sport, 587)
        decoy = fragment(allowed[0] / allowed[1], fragsize=48)
        rewrite = fragment(ip / tcp, fragsize=48)
        return [eth / decoy[0], eth / rewrite[0], eth / decoy[1]]
    if name == "v4_overlap_later":
        # A later fragment 8 bytes in overlaps the sequence numbers of the
        # first; it can never reach the ports (bytes 0-3 of the TCP header).
        frags = fragment(ip / tcp, fragsize=48)
        overlap = IP(src=ep.src4, dst=ep.dst4, id=sport, proto=6, flags="MF", frag=1) \
            / Raw(bytes(tcp)[8:24])
        return [eth / f for f in frags] + [eth / overlap]
    if name == "v6_overlap_rewrite":
        # First fragment: Frag | DestOpts | TCP to 587 (allowed, its ports are
        # visible). A later fragment at offset 8 overwrites that TCP header
        # with one to ``dport``: only RFC 5722 receivers' discard stops it.
        allowed = _syn(ep, True, sport, 587)[1]
        opts = IPv6ExtHdrDestOpt()
        first = fragment6(ip / IPv6ExtHdrFragment(id=sport) / opts / allowed / Raw(b"x" * 16),
                          40 + 8 + 8 + 48)
        later = ip.copy() / IPv6ExtHdrFragment(id=sport, nh=60, offset=1, m=1) \
            / Raw(bytes(tcp)[:40])
        return [eth / first[0], eth / later] + [eth / f for f in first[1:]]
    if name in ("vlan0", "vlan5"):
        return [eth / Dot1Q(vlan=int(name[4:])) / ip / tcp]
    outer = 0x88A8 if name.startswith("qinq") else 0x8100
    ip, tcp = _syn(ep, name.endswith("v6"), sport, dport)
    frame = Ether(src=ep.src_mac, dst=ep.dst_mac, type=outer) / Dot1Q(vlan=5) / Dot1Q(vlan=6)
    return [frame / ip / tcp]


def probes(names: list[str], dports: tuple[int, ...]) -> list[dict]:
    """The manifest: one probe per (class, port), each with its own source port."""
    out = []
    for index, name in enumerate(names):
        for offset, dport in enumerate(dports):
            out.append({"name": name, "dport": dport,
                        "sport": SPORT_BASE + 2 * index + offset,
                        "family": 6 if "v6" in name else 4})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoints", nargs=7)
    ap.add_argument("--classes", default=",".join(EXPECT))
    ap.add_argument("--ports", default="25,587")
    args = ap.parse_args(argv)
    from scapy.all import sendp

    ep = Endpoints(*args.endpoints)
    manifest = probes(args.classes.split(","), tuple(int(p) for p in args.ports.split(",")))
    for probe in manifest:
        frames = build(probe["name"], ep, probe["sport"], probe["dport"])
        sendp(frames, iface=ep.iface, verbose=False)
        probe["frames"] = len(frames)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
