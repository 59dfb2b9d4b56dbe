"""What the service hands back: frozen views of stored rows, ready for JSON.

Callers never see ORM objects: a view is a plain frozen dataclass built while
its transaction is still open, so an interface can format it after the
session is gone without lazy loads or stale reads. ``to_jsonable`` is the one
place that decides how a view (and the times in it) looks as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from op25b_app.core.snapshot import blocked_at
from op25b_app.db.models import Attachment, ConnectionType, Mta, Subscriber, Switch
from op25b_app.service.inputs import in_time_range


def in_zone(value: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    """``value`` as shown in zone ``tz`` (None: as stored, UTC).

    A stored time outside the range op25b accepts (``inputs.in_time_range``;
    only raw SQL can write one, e.g. 9999-12-31T23:59:59Z) stays in UTC: near
    year 1 or 9999 a zone's offset would leave the years Python can hold,
    and the list of every subscriber must not fail for one such row.
    """
    if tz is None or value.tzinfo is None or not in_time_range(value):
        return value
    return value.astimezone(tz)


def to_jsonable(value: Any, tz: dt.tzinfo | None = None) -> Any:
    """Turn views (and what they contain) into JSON-ready builtins.

    Aware times are written as ISO 8601 with their offset, converted to
    ``tz`` when given (the operator's configured zone), else as stored (UTC);
    see ``in_zone`` for stored times out of range.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return in_zone(value, tz).isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [to_jsonable(v, tz) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, tz) for k, v in value.items()}
    return value


class _View:
    """Mixin: ``to_dict()`` for JSON output."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_jsonable(self)
        return result


@dataclasses.dataclass(frozen=True, slots=True)
class SwitchView(_View):
    id: int
    dpid: int
    dpid_hex: str
    name: str
    role: str
    uplinks: tuple[int, ...]
    created_at: dt.datetime
    #: Weighted flow entries the switch can hold (None = no limit).
    capacity: int | None = None
    #: Rendered without entries for blocked attachments (``core.compact``).
    compact: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionTypeView(_View):
    id: int
    name: str
    blocked: bool
    description: str


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentView(_View):
    id: int
    dpid: int
    switch: str
    port: int
    vlan: int | None
    prefix: str | None
    match_key: str
    #: Encapsulations this port/VLAN carries on purpose (passed, not guarded).
    carries: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberView(_View):
    id: int
    account: str
    name: str
    type: str
    type_blocked: bool
    exempt: bool
    exempt_reason: str | None
    exempt_until: dt.datetime | None
    #: Whether TCP/25 is blocked right now (type blocked and no active opt-out).
    blocked_now: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    attachments: tuple[AttachmentView, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class MtaView(_View):
    id: int
    name: str
    prefix: str


def switch_view(switch: Switch) -> SwitchView:
    """The view of a switch row (its uplinks must be loaded)."""
    return SwitchView(
        id=switch.id,
        dpid=switch.dpid,
        dpid_hex=f"{switch.dpid:016x}",
        name=switch.name,
        role=switch.role,
        uplinks=tuple(sorted(u.port for u in switch.uplinks)),
        created_at=switch.created_at,
        capacity=switch.capacity,
        compact=bool(switch.compact),
    )


def connection_type_view(ctype: ConnectionType) -> ConnectionTypeView:
    """The view of a connection type row."""
    return ConnectionTypeView(
        id=ctype.id, name=ctype.name, blocked=ctype.blocked, description=ctype.description
    )


def mta_view(mta: Mta) -> MtaView:
    """The view of an MTA row."""
    return MtaView(id=mta.id, name=mta.name, prefix=mta.prefix)


def attachment_view(attachment: Attachment) -> AttachmentView:
    """The view of an attachment row (its switch must be loaded)."""
    return AttachmentView(
        id=attachment.id,
        dpid=attachment.switch.dpid,
        switch=attachment.switch.name,
        port=attachment.port,
        vlan=attachment.vlan,
        prefix=attachment.prefix,
        match_key=attachment.match_key,
        # Split, not checked: showing a row written by hand must not fail; the
        # controller's loader is what refuses a bad one, naming the row.
        carries=tuple(attachment.carries.split(",")) if attachment.carries else (),
    )


def subscriber_view(subscriber: Subscriber, now: dt.datetime) -> SubscriberView:
    """The view of a subscriber row at ``now`` (type and attachments must be loaded).

    ``blocked_now`` asks ``core.snapshot.blocked_at``, the definition the
    compiler uses, so what an operator is shown is what the switches do.
    """
    ctype = subscriber.connection_type
    return SubscriberView(
        id=subscriber.id,
        account=subscriber.account,
        name=subscriber.name,
        type=ctype.name,
        type_blocked=ctype.blocked,
        exempt=subscriber.exempt,
        exempt_reason=subscriber.exempt_reason,
        exempt_until=subscriber.exempt_until,
        blocked_now=blocked_at(ctype.blocked, subscriber.exempt, subscriber.exempt_until, now),
        created_at=subscriber.created_at,
        updated_at=subscriber.updated_at,
        attachments=tuple(
            attachment_view(a) for a in sorted(subscriber.attachments, key=lambda a: a.id)
        ),
    )
