"""Every size and range limit op25b enforces, defined once.

The service layer checks input against these, the database's CHECK
constraints are written from them, the snapshot loader re-checks stored rows
with them and the compiler trusts them; the REST API documents them in its
OpenAPI schema. Changing a limit here changes it everywhere.
"""

from __future__ import annotations

#: OpenFlow 1.3 port numbers: 1..OFPP_MAX (reserved ports are never subscriber-facing).
MIN_PORT = 1
MAX_PORT = 0xFFFFFF00
#: 802.1Q VLAN ids (0 = priority-tagged).
MIN_VLAN = 0
MAX_VLAN = 0x0FFF
#: A datapath id is an unsigned 64-bit number.
MAX_DPID = 2**64 - 1
#: Highest OpenFlow table id; 255 is OFPTT_ALL, not a real table.
MAX_TABLE_ID = 254
#: Highest OpenFlow meter id (OFPM_MAX); above are the virtual meters.
MAX_METER_ID = 0xFFFF0000

# --------------------------------------------------------------------------- input ranges
#: Times op25b accepts as input (opt-out ends, enforcement start, --at, --since,
#: CSV exempt_until), as UTC: from the first second of EARLIEST_TIME_YEAR (the Unix
#: epoch: "since 2000-01-01" in Tokyo is still 1999 in UTC) to the last second of
#: LATEST_TIME_YEAR. Wide enough for any real schedule or look-back, narrow enough
#: that no time zone can push a value past year 1 or 9999, where Python cannot
#: represent it. A stored time outside it (only raw SQL can write one) is shown in
#: UTC and marked, never refused on reading.
EARLIEST_TIME_YEAR = 1970
LATEST_TIME_YEAR = 2100
#: The longest span (--since 7d, --window 1h) in days: ten years.
MAX_SPAN_DAYS = 3650
#: The most characters an integer may be given with (2**64-1 is 20 digits,
#: 0x-hex 18): a megabyte of digits is refused before Python converts it.
MAX_INTEGER_CHARS = 24

# --------------------------------------------------------------------------- text
#: Account keys, subscriber names, opt-out reasons, type descriptions (characters).
MAX_ACCOUNT_CHARS = 64
MAX_SUBSCRIBER_NAME_CHARS = 200
MAX_REASON_CHARS = 500
MAX_DESCRIPTION_CHARS = 1000
#: Switch and MTA names (the NAME pattern: ASCII identifiers).
MAX_NAME_CHARS = 64
#: How much of a value an error message echoes (a 1 MB name must not make a 1 MB line).
MAX_ECHO_CHARS = 100

# --------------------------------------------------------------------------- switches
#: The largest flow-table capacity a switch may be given (entries).
MAX_SWITCH_CAPACITY = 100_000_000

# --------------------------------------------------------------------------- one write's size
#: Source prefixes on one attachment point (one --attach, one CSV line, one API
#: attachment). Every prefix is a row, a uniqueness check and a flow entry: the
#: bound keeps one write short, so it never holds the write lock for long.
MAX_PREFIXES_PER_POINT = 256
#: Attachments (rows: one per prefix, or one without) one subscriber may have.
MAX_ATTACHMENTS_PER_SUBSCRIBER = 1024
#: Prefixes of one MTA.
MAX_MTA_PREFIXES = 64
#: An MTA prefix shorter than these is "wide" (TCP/25 opens to a whole block of
#: the Internet) and is accepted only when asked for explicitly (--wide).
MTA_WIDE_IPV4_PREFIXLEN = 24
MTA_WIDE_IPV6_PREFIXLEN = 48

# --------------------------------------------------------------------------- waiting for writers
#: How long a writer waits for another writer's policy write lock (seconds)
#: before failing with "database busy": longer than a 100k-line import takes.
DEFAULT_LOCK_TIMEOUT_S = 30
MAX_LOCK_TIMEOUT_S = 3600
