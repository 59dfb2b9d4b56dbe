"""ORM models of the policy tables, and the storage forms they rely on.

The schema itself is created by the Alembic migrations in
``op25b_app/db/migrations``; these classes must describe exactly what the
migrations create (a unit test compares the two), and the ORM is used only by
the service layer. The controller's hot path reads the same tables with plain
Core selects (``snapshot_loader``).

Storage decisions, so that anyone writing SQL by hand gets them right:

* **dpid** is a 64-bit *unsigned* OpenFlow datapath id, but SQL ``BIGINT`` is
  signed. It is stored as the two's-complement signed value: dpids below 2**63
  (every OVS dpid derived from a MAC address, and every vendor dpid we know of)
  are stored unchanged; a dpid with the top bit set is stored as
  ``dpid - 2**64`` (a negative number). ``dpid_to_db``/``dpid_from_db`` do the
  mapping. ``NUMERIC(20)`` was rejected because SQLite turns integers above
  2**63-1 into lossy REALs.
* **times** are timezone-aware and stored in UTC (``timestamptz`` on
  PostgreSQL; ``'YYYY-MM-DD HH:MM:SS.ffffff'`` text meaning UTC on SQLite).
* **prefixes** are stored in canonical text form, ``str(IPNetwork(x).cidr)``.
* **attachments.carries** names the encapsulations (``core.constants.ENCAPSULATIONS``)
  the attachment's port and VLAN carry on purpose: the kinds sorted and
  comma-separated (``mpls,qinq``), NULL for none; ``carries_to_db`` writes it.
* **attachments.match_key** is ``"dpid:port:vlan|*:prefix|*"`` (dpid in
  unsigned decimal), unique, so that the same match cannot be attached twice.
"""

from op25b_app.db.models.columns import (
    NAMING_CONVENTION,
    Base,
    Dpid,
    StoredValueError,
    UTCDateTime,
    as_utc,
    canonical_prefix,
    carries_from_db,
    carries_to_db,
    dpid_from_db,
    dpid_to_db,
    make_match_key,
    utc_now,
)
from op25b_app.db.models.policy import (
    POLICY_NOTIFY_CHANNEL,
    POLICY_TABLES,
    Attachment,
    ConnectionType,
    GlobalEnforcement,
    Mta,
    PolicyChange,
    PolicyRevision,
    Subscriber,
    Switch,
    SwitchUplink,
)
from op25b_app.db.models.sessions import (
    SESSION_ADDRESS_COLUMNS,
    SESSION_POLICY_COLUMNS,
    SOURCES,
    SubscriberSession,
)
from op25b_app.db.models.state import (
    SQL_AUDIT_DETAIL_ROWS,
    AuditEntry,
    BlockedCount,
    ControllerStatus,
    CounterMark,
    SwitchStatus,
    SynSample,
)

__all__ = [
    "NAMING_CONVENTION", "POLICY_NOTIFY_CHANNEL", "POLICY_TABLES", "SQL_AUDIT_DETAIL_ROWS",
    "Attachment", "AuditEntry", "Base", "BlockedCount", "ConnectionType", "ControllerStatus",
    "CounterMark", "Dpid", "GlobalEnforcement", "Mta", "PolicyChange", "PolicyRevision", "Subscriber", "Switch",
    "StoredValueError", "SwitchStatus", "SwitchUplink", "SynSample", "UTCDateTime", "as_utc",
    "canonical_prefix",
    "carries_from_db", "carries_to_db", "dpid_from_db", "dpid_to_db", "make_match_key", "utc_now",
    # Dynamic subscribers (radius)
    "SESSION_ADDRESS_COLUMNS", "SESSION_POLICY_COLUMNS", "SOURCES", "SubscriberSession",
]
