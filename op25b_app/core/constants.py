"""Every number that shapes op25b's flow entries lives here, in one place.

Priorities are bands relative to a configurable base so that op25b can share a
table with another application without colliding; the cookie layout lets us
read back and delete only our own entries (other apps may share the switch).
"""

from __future__ import annotations

import enum

#: OpenFlow ethertypes used in matches.
ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_IPV6 = 0x86DD
#: IP protocol numbers.
IP_PROTO_TCP = 6
IP_PROTO_UDP = 17
#: What Open vSwitch reports as the IPv6 protocol of a packet whose extension
#: header chain it could not parse to the end (a truncated chain).
IP_PROTO_UNPARSED = 0

#: Encapsulations that carry IP where a switch's match cannot see it, by the
#: ethertype the switch reports after the first (parsed) VLAN tag: stacked
#: VLAN tags (802.1Q, 802.1ad and the old 0x9100), MPLS (unicast, multicast)
#: and PPPoE session frames. From a customer port they are dropped unless an
#: attachment says that port carries them (``carries``).
ENCAPSULATIONS: dict[str, tuple[int, ...]] = {
    "qinq": (0x8100, 0x88A8, 0x9100),
    "mpls": (0x8847, 0x8848),
    "pppoe": (0x8864,),
}

#: The ``ip_frag`` match (Nicira extension, OVS ``nw_frag``): name -> (value, mask).
#: Bit 0: any fragment; bit 1: a fragment with a non-zero offset ("later").
IP_FRAG_MATCHES: dict[str, tuple[int, int]] = {
    "no": (0, 3),
    "yes": (1, 1),
    "first": (1, 3),
    "later": (2, 2),
    "not_later": (0, 2),
}
#: OFPT_SET_CONFIG fragment handling: OVS's "nx-match" mode (value 3) gives a
#: first fragment its transport ports when it holds the whole TCP header, so a
#: fragmented SYN meets the subscriber's own entry. Standard modes: 0 normal
#: (fragments have no ports), 1 drop (every fragment), 2 reassemble.
OFPC_FRAG_NX_MATCH = 3
OFPC_FRAG_MASK = 3
#: The port this product is about.
SMTP_PORT = 25
#: OpenFlow 1.3 OFPVID_PRESENT: a VLAN match must carry this bit.
OFPVID_PRESENT = 0x1000

#: Cookie layout (64 bits)::
#:
#:   63..48  0x0b25 = "op25b"     every delete / flow-stats request masks these
#:   47..8   attachment id        which subscriber attachment an entry counts for
#:   7       COUNTED flag         the entry's packets are (would-be) blocked attempts
#:   6..0    band                 which precedence band the entry belongs to
#:
#: Every delete and flow-stats request uses COOKIE_MASK so entries owned by
#: other applications are never touched; the counter poller adds the COUNTED
#: bit to its mask to read only the entries whose packets it attributes.
COOKIE_APP_ID = 0x0B25
COOKIE_SHIFT = 48
COOKIE_MASK = 0xFFFF << COOKIE_SHIFT
COOKIE_BASE = COOKIE_APP_ID << COOKIE_SHIFT
COOKIE_COUNTED = 0x80
COOKIE_BAND_MASK = 0x7F
COOKIE_ATTACHMENT_SHIFT = 8
COOKIE_ATTACHMENT_MAX = (1 << 40) - 1

#: Flow-stats reads are split into this many slices by the attachment id's low
#: bits in the cookie (cookie-masked requests). Ryu parses each reply on its
#: event loop without yielding, so reading 100k entries in one request would
#: starve echo replies for seconds; slices keep each parse short.
STATS_SLICES = 16
STATS_SLICE_SHIFT = COOKIE_ATTACHMENT_SHIFT

#: Enforcement modes: drop blocked TCP/25, or let it pass and only count it.
MODE_ENFORCE = "enforce"
MODE_MONITOR = "monitor"
MODES = (MODE_ENFORCE, MODE_MONITOR)

#: Default table op25b owns and default priority base (options can change both).
DEFAULT_TABLE_ID = 0
DEFAULT_PRIORITY_BASE = 30000
#: Largest legal OpenFlow priority.
MAX_PRIORITY = 0xFFFF


class Band(enum.IntEnum):
    """Precedence bands, lowest first. The value is also the cookie's low byte."""

    MISS = 0  #: op25b's own table-miss entry: everything else passes
    DEFAULT_DROP = 1  #: TCP/25 from any customer-facing port: fail closed
    ATTACHMENT = 2  #: per-attachment pass (exempt) or drop (blocked), by specificity
    MTA = 3  #: TCP/25 to one of the ISP's relays passes
    UPLINK = 4  #: traffic entering from the core is never blocked
    SAMPLE = 5  #: the sample table's punt entry (monitor-mode copies to the controller)
    GUARD = 6  #: crafted packets from customer ports: tiny fragments, hidden encapsulations


#: Offset of each band from the priority base. MISS is always priority 0
#: (an OpenFlow table-miss entry is by definition priority 0).
BAND_OFFSET: dict[Band, int] = {
    Band.DEFAULT_DROP: 0,
    Band.GUARD: 500,
    Band.ATTACHMENT: 1000,
    Band.MTA: 2000,
    Band.UPLINK: 3000,
}
#: Width of the attachment band: specificity 0..(2*129+1) fits below MTA.
ATTACHMENT_BAND_WIDTH = 1000
#: Highest base for which every band still fits in a 16-bit priority.
MAX_PRIORITY_BASE = MAX_PRIORITY - BAND_OFFSET[Band.UPLINK]


def cookie_for(band: Band, attachment_id: int = 0, counted: bool = False) -> int:
    """The cookie op25b stamps on an entry of ``band`` (see the layout above)."""
    if not 0 <= attachment_id <= COOKIE_ATTACHMENT_MAX:
        raise ValueError(f"attachment id {attachment_id} does not fit in a cookie")
    return (COOKIE_BASE | (attachment_id << COOKIE_ATTACHMENT_SHIFT)
            | (COOKIE_COUNTED if counted else 0) | int(band))


def band_of(cookie: int) -> Band:
    """The band an op25b cookie names."""
    return Band(cookie & COOKIE_BAND_MASK)


def attachment_of(cookie: int) -> int:
    """The attachment id an op25b cookie carries (0 = not an attachment entry)."""
    return (cookie >> COOKIE_ATTACHMENT_SHIFT) & COOKIE_ATTACHMENT_MAX


def is_counted(cookie: int) -> bool:
    """True for entries whose packets are blocked (or, in monitor mode, would be)."""
    return bool(cookie & COOKIE_COUNTED)


def is_op25b_cookie(cookie: int) -> bool:
    """True when ``cookie`` lies in op25b's range (under COOKIE_MASK)."""
    return (cookie & COOKIE_MASK) == COOKIE_BASE
