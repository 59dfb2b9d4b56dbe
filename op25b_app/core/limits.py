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
