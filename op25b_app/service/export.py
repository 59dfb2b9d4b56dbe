"""Every subscriber as import records: the export an operator edits and imports back.

The export is shaped so that importing it unchanged is a no-op: that is
how an operator round-trips the database through a spreadsheet, and how a
test proves that export and import agree on every field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.models import Attachment, ConnectionType, Subscriber, Switch
from op25b_app.service.import_records import SubscriberRecord
from op25b_app.service.views import in_zone

#: subscriber id -> (dpid, port, vlan or -1, carries or "") -> the prefixes there
#: (None: any source).
_Point = tuple[int, int, int, str]
_Points = dict[int, dict[_Point, list[str | None]]]


def export_records(session: Session, tz: dt.tzinfo | None) -> list[SubscriberRecord]:
    """Every subscriber as records (one per attachment point), by account.

    The output re-imports as a no-op: prefixes of one point that carry the
    same encapsulations share a record (a record's ``carries`` applies to
    all its prefixes), an "any source" attachment at a point that also has
    prefixes gets its own record, and times carry their offset (in ``tz``,
    else UTC).
    """
    su = Subscriber.__table__
    ct = ConnectionType.__table__
    points = _attachment_points(session)
    zone = tz or dt.UTC
    records: list[SubscriberRecord] = []
    for subscriber_id, account, name, type_name, exempt, reason, until in session.execute(
        sa.select(
            su.c.id, su.c.account, su.c.name, ct.c.name, su.c.exempt, su.c.exempt_reason,
            su.c.exempt_until,
        )
        .select_from(su.join(ct, su.c.type_id == ct.c.id))
        .order_by(su.c.account)
    ):
        common = SubscriberRecord(
            account=account,
            name=name,
            type=type_name,
            exempt="true" if exempt else "false",
            exempt_reason=(reason or "") if exempt else "",
            exempt_until=in_zone(until, zone).isoformat() if exempt and until else "",
        )
        records.extend(_point_records(common, points.get(subscriber_id)))
    return records


def _attachment_points(session: Session) -> _Points:
    """Every attachment, grouped by subscriber and attachment point (one query)."""
    at = Attachment.__table__
    sw = Switch.__table__
    points: _Points = {}
    for subscriber_id, dpid, port, vlan, prefix, carries in session.execute(
        sa.select(at.c.subscriber_id, sw.c.dpid, at.c.port, at.c.vlan, at.c.prefix, at.c.carries)
        .select_from(at.join(sw, at.c.switch_id == sw.c.id))
    ):
        points.setdefault(subscriber_id, {}).setdefault(
            (dpid, port, -1 if vlan is None else vlan, carries or ""), []
        ).append(prefix)
    return points


def _point_records(
    common: SubscriberRecord, mine: dict[_Point, list[str | None]] | None
) -> list[SubscriberRecord]:
    """The records of one subscriber: one without a point if it has none."""
    if not mine:
        return [common]
    records: list[SubscriberRecord] = []
    for (dpid, port, vlan, carries), prefixes in sorted(mine.items()):
        point = dataclasses.replace(
            common, dpid=f"{dpid:#x}", port=str(port), vlan="" if vlan < 0 else str(vlan),
            carries=carries.replace(",", " "),  # space-separated, like prefixes
        )
        if None in prefixes:
            records.append(point)
        given = sorted((p for p in prefixes if p is not None), key=lambda p: (":" in p, p))
        if given:
            records.append(dataclasses.replace(point, prefixes=" ".join(given)))
    return records
