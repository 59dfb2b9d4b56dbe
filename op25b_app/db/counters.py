"""Blocked-attempt counters: bounded aggregates the abuse desk's reports need.

Prometheus keeps the time series; the database keeps only hourly buckets per
(switch, attachment, mode) with a retention limit, enough for the "affected"
report over a monitoring period of weeks and the "suspects" report over the
last hours. ``counter_marks`` remembers the last packet count read from each
counted entry, so a restarted controller adds only what is new.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from op25b_app.db.engine import dialect_insert
from op25b_app.db.session_loader import session_accounts
from op25b_app.db.models import (
    BlockedCount,
    CounterMark,
    Subscriber,
    SynSample,
    dpid_to_db,
)

BUCKET = dt.timedelta(hours=1)


@dataclasses.dataclass(frozen=True)
class CountDelta:
    """New (would-be) blocked packets seen on one entry since the last poll."""

    dpid: int
    attachment_id: int  # 0 = the switch's default entry (unknown senders)
    account: str | None
    mode: str  # "enforce" (dropped) or "monitor" (passed, would be dropped)
    packets: int


@dataclasses.dataclass(frozen=True)
class Sample:
    """Headers of one blocked SYN the controller saw (no payload, ever)."""

    seen_at: dt.datetime
    dpid: int
    attachment_id: int
    account: str | None
    src: str
    dst: str
    dport: int


def bucket_of(now: dt.datetime) -> dt.datetime:
    """Start of the hourly bucket ``now`` falls in (UTC)."""
    now = now.astimezone(dt.UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def load_marks(engine: Engine, dpid: int) -> dict[str, tuple[int, float]]:
    """The last counts recorded for ``dpid``'s counted entries."""
    cm = CounterMark.__table__
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cm.c.entry, cm.c.packets, cm.c.installed)
                            .where(cm.c.dpid == dpid_to_db(dpid)))
        return {entry: (int(packets), float(installed)) for entry, packets, installed in rows}


def record(engine: Engine, dpid: int, deltas: Iterable[CountDelta],
           marks: dict[str, tuple[int, float]], now: dt.datetime,
           retention: dt.timedelta | None = None, samples: Iterable[Sample] = ()) -> None:
    """Add ``deltas`` to the current bucket, store ``marks`` and ``samples``, atomically."""
    insert = dialect_insert(engine)
    ss = cast(sa.Table, SynSample.__table__)
    sample_rows = [{"seen_at": x.seen_at, "dpid": dpid_to_db(x.dpid),
                    "attachment_id": x.attachment_id, "account": x.account, "src": x.src,
                    "dst": x.dst, "dport": x.dport} for x in samples]
    bc, cm = cast(sa.Table, BlockedCount.__table__), cast(sa.Table, CounterMark.__table__)
    bucket = bucket_of(now)
    with engine.begin() as conn:
        deltas = _with_session_accounts(conn, list(deltas), sample_rows)
        for d in deltas:
            stmt = insert(bc).values(bucket=bucket, dpid=dpid_to_db(d.dpid),
                                     attachment_id=d.attachment_id, account=d.account,
                                     mode=d.mode, packets=d.packets)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["bucket", "dpid", "attachment_id", "mode"],
                set_={"packets": bc.c.packets + stmt.excluded.packets,
                      "account": stmt.excluded.account}))
        for entry, (packets, installed) in marks.items():
            stmt = insert(cm).values(dpid=dpid_to_db(dpid), entry=entry, packets=packets,
                                     installed=installed)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["dpid", "entry"],
                set_={"packets": stmt.excluded.packets, "installed": stmt.excluded.installed}))
        if sample_rows:
            conn.execute(sa.insert(ss), sample_rows)
        if retention is not None:
            conn.execute(sa.delete(bc).where(bc.c.bucket < bucket - retention))
            conn.execute(sa.delete(ss).where(ss.c.seen_at < bucket - retention))


def _with_session_accounts(conn: sa.Connection, deltas: list[CountDelta],
                           sample_rows: list[dict[str, Any]]) -> list[CountDelta]:
    """Name the account of counts and samples from a session's entry the snapshot lost.

    (Dynamic subscribers, radius.) A session that ended between two polls is
    gone from the controller's snapshot, but the packets counted on its entry
    were its account's, not an unregistered sender's.
    """
    missing = {d.attachment_id for d in deltas if d.account is None and d.attachment_id}
    missing |= {r["attachment_id"] for r in sample_rows if r["account"] is None}
    accounts = session_accounts(conn, missing)
    if not accounts:
        return deltas
    for row in sample_rows:
        if row["account"] is None:
            row["account"] = accounts.get(row["attachment_id"])
    return [dataclasses.replace(d, account=accounts.get(d.attachment_id))
            if d.account is None else d for d in deltas]


def _totals(engine: Engine, mode: str | None, since: dt.datetime) -> list[dict[str, Any]]:
    bc, su = BlockedCount.__table__, Subscriber.__table__
    query = (
        sa.select(bc.c.account, bc.c.dpid, sa.func.sum(bc.c.packets).label("packets"),
                  sa.func.min(bc.c.bucket).label("first_seen"),
                  sa.func.max(bc.c.bucket).label("last_seen"), su.c.name)
        .select_from(bc.outerjoin(su, su.c.account == bc.c.account))
        .where(bc.c.bucket >= bucket_of(since))
        .group_by(bc.c.account, bc.c.dpid, su.c.name)
        .order_by(sa.desc("packets"), bc.c.account)
    )
    if mode is not None:
        query = query.where(bc.c.mode == mode)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    from op25b_app.db.models import as_utc, dpid_from_db

    destinations = _destinations(engine, since)
    return [
        {"account": r["account"] or "(unregistered sender)", "name": r["name"] or "",
         "destinations": destinations.get((r["account"], int(r["dpid"])), []),
         "dpid": dpid_from_db(int(r["dpid"])), "packets": int(r["packets"]),
         "first_seen": as_utc(r["first_seen"]), "last_seen": as_utc(r["last_seen"])}
        for r in rows
    ]


def _destinations(engine: Engine, since: dt.datetime,
                  top: int = 3) -> dict[tuple[str | None, int], list[str]]:
    """The most frequent sampled destinations per (account, stored dpid)."""
    ss = SynSample.__table__
    query = (sa.select(ss.c.account, ss.c.dpid, ss.c.dst, sa.func.count().label("n"))
             .where(ss.c.seen_at >= since)
             .group_by(ss.c.account, ss.c.dpid, ss.c.dst)
             .order_by(ss.c.account, ss.c.dpid, sa.desc("n"), ss.c.dst))
    out: dict[tuple[str | None, int], list[str]] = {}
    with engine.connect() as conn:
        for account, dpid, dst, n in conn.execute(query):
            dests = out.setdefault((account, int(dpid)), [])
            if len(dests) < top:
                dests.append(f"{dst} ({n})")
    return out


def affected(engine: Engine, since: dt.datetime) -> list[dict[str, Any]]:
    """Who sent TCP/25 to non-MTA destinations while monitored (the notice list)."""
    return _totals(engine, "monitor", since)


def suspects(engine: Engine, window: dt.timedelta, threshold: int,
             now: dt.datetime) -> list[dict[str, Any]]:
    """Subscribers whose blocked attempts in the last ``window`` exceed ``threshold``.

    Buckets are hourly, so the window is rounded out to whole hours.
    """
    rows = _totals(engine, "enforce", now - window)
    return [r for r in rows if r["packets"] > threshold]
