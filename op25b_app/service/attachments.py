"""Where a subscriber's traffic enters: attachment specs, checked before any row is written.

A caller says where to attach (switch, port, optional VLAN, prefixes, carried
encapsulations) in an ``AttachmentSpec``; ``plan_attachments`` checks every
spec against the stored switches, attachments and MTAs with the shared
``rules`` and returns rows ready to insert, so a subscriber is attached
everywhere or nowhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from op25b_app.core.limits import MAX_ATTACHMENTS_PER_SUBSCRIBER, MAX_PREFIXES_PER_POINT
from op25b_app.db.models import Attachment, Switch, make_match_key
from op25b_app.service.errors import ValidationError
from op25b_app.service.import_lookups import load_owners
from op25b_app.service.inputs import (
    parse_carries,
    parse_dpid,
    parse_port,
    parse_prefix,
    parse_vlan,
)
from op25b_app.service.rules import (
    MtaIndex,
    attachment_taken,
    check_subscriber_port,
    unknown_switch,
)


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """Where to attach a subscriber, as given by the caller (not yet validated).

    One attachment row is created per prefix; no prefixes means one row
    matching any source on that port/VLAN. ``carries`` names encapsulations
    (``mpls``, ``pppoe``, ``qinq``) that port/VLAN carries on purpose, so the
    guard band passes them there instead of dropping them; every row of the
    spec gets them.
    """

    dpid: int | str
    port: int | str
    vlan: int | str | None = None
    prefixes: tuple[str, ...] = ()
    carries: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedAttachment:
    """A validated attachment row about to be inserted."""

    switch: Switch
    port: int
    vlan: int | None
    prefix: netaddr.IPNetwork | None
    match_key: str
    #: Storage text of the carried encapsulations (``carries_to_db``), None for none.
    carries: str | None = None

    def row(self) -> Attachment:
        """The ORM row to add to the subscriber's attachments."""
        return Attachment(
            switch=self.switch,
            port=self.port,
            vlan=self.vlan,
            prefix=None if self.prefix is None else str(self.prefix),
            match_key=self.match_key,
            carries=self.carries,
        )


def check_write_size(specs: Sequence[AttachmentSpec], existing: int = 0) -> None:
    """Refuse more attachments than one write may carry (``core.limits``).

    Every attachment is a row, a uniqueness check and a flow entry, all under
    the policy write lock: a write of 60,000 prefixes held it for 15 s while
    every other writer waited. Checked before anything is parsed or read.
    """
    rows = existing
    for spec in specs:
        count = len(spec.prefixes)
        if count > MAX_PREFIXES_PER_POINT:
            raise ValidationError("prefix", f"{count} prefixes", f"more than "
                                  f"{MAX_PREFIXES_PER_POINT} on one attachment point")
        rows += max(1, count)
    if rows > MAX_ATTACHMENTS_PER_SUBSCRIBER:
        raise ValidationError("attach", f"{rows} attachments", f"more than "
                              f"{MAX_ATTACHMENTS_PER_SUBSCRIBER} for one subscriber")


def plan_attachments(
    session: Session, specs: Sequence[AttachmentSpec], existing: int = 0
) -> list[PlannedAttachment]:
    """Validate attachment specs against the stored switches, attachments and MTAs.

    ``existing``: how many attachments the subscriber already has (for the limit).
    """
    check_write_size(specs, existing)
    planned: list[PlannedAttachment] = []
    seen: set[str] = set()
    switches: dict[int, Switch] = {}
    mtas: MtaIndex | None = None  # loaded at the first prefix: most specs have none
    for spec in specs:
        dpid = parse_dpid(spec.dpid)
        port = parse_port(spec.port)
        vlan = parse_vlan(spec.vlan)
        carries = parse_carries(spec.carries)
        switch = switches.get(dpid) or _registered_switch(session, dpid, spec)
        switches[dpid] = switch
        check_subscriber_port(
            switch.name, switch.role, {u.port for u in switch.uplinks}, spec.dpid, spec.port, port
        )
        prefixes: list[netaddr.IPNetwork | None] = [parse_prefix(p) for p in spec.prefixes]
        for network in prefixes or [None]:
            prefix_text = None if network is None else str(network)
            key = make_match_key(dpid, port, vlan, prefix_text)
            if key in seen:
                raise ValidationError(
                    "prefix" if network is not None else "attach", key, "listed twice"
                )
            seen.add(key)
            if network is not None:
                if mtas is None:
                    mtas = MtaIndex.load(session)
                mtas.check("prefix", prefix_text, network)
            planned.append(PlannedAttachment(switch, port, vlan, network, key, carries))
    _refuse_taken(session, [p.match_key for p in planned])
    return planned


def _registered_switch(session: Session, dpid: int, spec: AttachmentSpec) -> Switch:
    """The switch ``spec`` names (uplinks loaded); an unknown dpid is the caller's error."""
    switch = session.scalar(
        sa.select(Switch).options(selectinload(Switch.uplinks)).where(Switch.dpid == dpid)
    )
    if switch is None:
        raise unknown_switch("dpid", spec.dpid)
    return switch


def _refuse_taken(session: Session, keys: list[str]) -> None:
    """One match, one account: two accounts with an identical attachment would share
    one flow entry, and its opt-out and counters could not tell them apart.

    One keyed query for all of them (``load_owners``), not one per attachment.
    """
    owners = load_owners(session, keys)
    for key in keys:
        if key in owners:
            raise attachment_taken("attach", key, owners[key])
