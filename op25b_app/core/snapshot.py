"""An immutable, database-free picture of the policy tables.

The controller reads the database once per revision into a ``PolicySnapshot``
and hands it to the pure compiler; keeping this separate from the ORM means the
compiler and its tests never touch SQLAlchemy or Ryu.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import netaddr

from op25b_app.core import constants

#: Switch roles. An ``edge`` switch enforces OP25B on every non-uplink port; a
#: ``core`` switch (transit, MTA side) only gets op25b's pass-everything entry.
ROLE_EDGE = "edge"
ROLE_CORE = "core"
ROLES = (ROLE_EDGE, ROLE_CORE)


def exemption_active(exempt: bool, exempt_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an opt-out applies at ``now``: until its expiry (exclusive), or forever."""
    return exempt and (exempt_until is None or now < exempt_until)


def blocked_at(type_blocked: bool, exempt: bool, exempt_until: dt.datetime | None,
               now: dt.datetime) -> bool:
    """The one definition of "is port 25 blocked for this subscriber at ``now``".

    Blocked when the connection type is subject to OP25B and no opt-out is
    active. The compiler, the service's views and the reports all ask this.
    """
    return type_blocked and not exemption_active(exempt, exempt_until, now)


@dataclasses.dataclass(frozen=True, slots=True)
class SwitchInfo:
    """One switch as the policy sees it."""

    dpid: int
    name: str
    role: str = ROLE_EDGE
    uplink_ports: frozenset[int] = frozenset()
    #: Per-switch override of the global enforcement (None = inherit).
    mode: str | None = None
    enforce_at: dt.datetime | None = None
    #: Weighted entries the switch can hold (None = no limit); writers check it.
    capacity: int | None = None
    #: Render without an entry per blocked attachment (see ``core.compact``).
    compact: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentRule:
    """Where one subscriber's traffic enters, with what decides its blocking.

    ``prefix`` is a source prefix (normalised ``netaddr.IPNetwork``) or None
    for "any source on this port/VLAN" (which then covers IPv4 and IPv6).
    """

    attachment_id: int
    account: str
    dpid: int
    port: int
    vlan: int | None
    prefix: netaddr.IPNetwork | None
    type_name: str
    type_blocked: bool
    exempt: bool = False
    exempt_until: dt.datetime | None = None  # timezone-aware UTC
    #: Encapsulations this attachment's port (and VLAN) carries on purpose
    #: (names of ``constants.ENCAPSULATIONS``): passed instead of guarded.
    carries: frozenset[str] = frozenset()

    def exemption_active(self, now: dt.datetime) -> bool:
        """An opt-out counts until its expiry (exclusive); no expiry = forever."""
        return exemption_active(self.exempt, self.exempt_until, now)

    def blocked_at(self, now: dt.datetime) -> bool:
        """Whether port 25 is blocked for this attachment at ``now``."""
        return blocked_at(self.type_blocked, self.exempt, self.exempt_until, now)


@dataclasses.dataclass(frozen=True, slots=True)
class MtaRule:
    """One of the ISP's own mail relays (an address or a prefix)."""

    name: str
    prefix: netaddr.IPNetwork


@dataclasses.dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A stored row that failed validation and was left out of the snapshot.

    Written by hand behind op25b's back (raw SQL can write anything): the row
    is named exactly - table, row id, field, value, why - so an operator can
    fix it, and what it described falls back to failing closed (see
    ``db.snapshot_loader``) while every other row keeps working.
    """

    table: str
    row_id: str
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return (f"table '{self.table}' row {self.row_id} field '{self.field}' "
                f"value '{self.value}': {self.reason}")

    def to_dict(self) -> dict[str, str]:
        return {"table": self.table, "row": self.row_id, "field": self.field,
                "value": self.value, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class PolicySnapshot:
    """Everything compile_policy needs, read at one database revision."""

    revision: int
    switches: Mapping[int, SwitchInfo]
    #: Keyed by dpid: a tuple of rules, or (in a snapshot patched from the
    #: change log) a mapping of attachment id to rule; ``attachments_for`` reads both.
    attachments: Mapping[int, tuple[AttachmentRule, ...] | Mapping[int, AttachmentRule]]
    mtas: tuple[MtaRule, ...]
    #: The dpids whose attachments were read (None = all switches).
    scope: frozenset[int] | None = None
    #: Global enforcement: the mode, and a time from which it is "enforce".
    mode: str = constants.MODE_ENFORCE
    enforce_at: dt.datetime | None = None
    #: Rows left out because they failed validation (their part fails closed).
    quarantined: tuple[QuarantinedRow, ...] = ()

    def enforcement(self, dpid: int, now: dt.datetime) -> tuple[str, dt.datetime | None]:
        """The mode switch ``dpid`` is in at ``now``, and when that changes by itself.

        A switch's own setting (mode or enforcement time) overrides the global
        one. With an enforcement time the switch monitors until then and
        enforces from then on (the announced OP25B start date).
        """
        switch = self.switches.get(dpid)
        mode, enforce_at = self.mode, self.enforce_at
        if switch is not None and (switch.mode is not None or switch.enforce_at is not None):
            mode, enforce_at = switch.mode or constants.MODE_ENFORCE, switch.enforce_at
        if enforce_at is not None:
            if now < enforce_at:
                return constants.MODE_MONITOR, enforce_at
            return constants.MODE_ENFORCE, None
        return mode, None

    def covers(self, dpid: int) -> bool:
        """Whether this snapshot holds ``dpid``'s attachments."""
        return self.scope is None or dpid in self.scope

    def attachments_for(self, dpid: int) -> tuple[AttachmentRule, ...]:
        rules = self.attachments.get(dpid, ())
        # A patched snapshot keeps each switch's rules by attachment id.
        return tuple(rules.values()) if isinstance(rules, Mapping) else tuple(rules)
