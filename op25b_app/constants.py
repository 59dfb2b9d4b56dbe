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
#: The port this product is about.
SMTP_PORT = 25
#: OpenFlow 1.3 OFPVID_PRESENT: a VLAN match must carry this bit.
OFPVID_PRESENT = 0x1000

#: Cookie layout: the high 16 bits say "op25b"; the low byte says which band
#: the entry belongs to. Every delete and flow-stats request uses COOKIE_MASK
#: so entries owned by other applications are never touched.
COOKIE_APP_ID = 0x0B25
COOKIE_SHIFT = 48
COOKIE_MASK = 0xFFFF << COOKIE_SHIFT
COOKIE_BASE = COOKIE_APP_ID << COOKIE_SHIFT

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


#: Offset of each band from the priority base. MISS is always priority 0
#: (an OpenFlow table-miss entry is by definition priority 0).
BAND_OFFSET: dict[Band, int] = {
    Band.DEFAULT_DROP: 0,
    Band.ATTACHMENT: 1000,
    Band.MTA: 2000,
    Band.UPLINK: 3000,
}
#: Width of the attachment band: specificity 0..(2*129+1) fits below MTA.
ATTACHMENT_BAND_WIDTH = 1000
#: Highest base for which every band still fits in a 16-bit priority.
MAX_PRIORITY_BASE = MAX_PRIORITY - BAND_OFFSET[Band.UPLINK]


def cookie_for(band: Band) -> int:
    """The cookie op25b stamps on an entry of ``band``."""
    return COOKIE_BASE | int(band)


def is_op25b_cookie(cookie: int) -> bool:
    """True when ``cookie`` lies in op25b's range (under COOKIE_MASK)."""
    return (cookie & COOKIE_MASK) == COOKIE_BASE
