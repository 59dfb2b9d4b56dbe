"""Blocked-attempt aggregates: buckets, marks, the affected and suspects reports."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from op25b_app.db import counters
from op25b_app.db.counters import CountDelta
from op25b_app.service import AttachmentSpec, PolicyService

T0 = dt.datetime(2007, 11, 20, 10, 15, tzinfo=dt.UTC)


def test_deltas_add_up_per_hour_and_marks_round_trip(db_engine: sa.Engine) -> None:
    svc = PolicyService(db_engine)
    svc.add_switch(1, "edge1", uplinks=[1])
    svc.add_subscriber("BB-1", "Taro", "broadband", [AttachmentSpec(1, 2)])
    for minute in (0, 20, 40):
        counters.record(db_engine, 1, [CountDelta(1, 5, "BB-1", "monitor", 3)],
                        {"k": (minute, 1.0)}, T0 + dt.timedelta(minutes=minute))
    counters.record(db_engine, 1, [CountDelta(1, 0, None, "monitor", 2)], {},
                    T0 + dt.timedelta(hours=1))
    assert counters.load_marks(db_engine, 1) == {"k": (40, 1.0)}
    rows = counters.affected(db_engine, T0 - dt.timedelta(days=1))
    assert [(r["account"], r["packets"], r["name"]) for r in rows] == [
        ("BB-1", 9, "Taro"), ("(unregistered sender)", 2, "")]
    assert rows[0]["first_seen"] == dt.datetime(2007, 11, 20, 10, tzinfo=dt.UTC)
    assert counters.suspects(db_engine, dt.timedelta(hours=1), 0, T0) == []


def test_suspects_are_above_the_threshold_inside_the_window(db_engine: sa.Engine) -> None:
    now = T0 + dt.timedelta(days=30)
    counters.record(db_engine, 1, [CountDelta(1, 5, "BB-LOUD", "enforce", 500),
                                   CountDelta(1, 6, "BB-QUIET", "enforce", 3)], {}, now)
    counters.record(db_engine, 1, [CountDelta(1, 6, "BB-QUIET", "enforce", 900)], {},
                    now - dt.timedelta(hours=5))
    rows = counters.suspects(db_engine, dt.timedelta(hours=1), 100, now)
    assert [r["account"] for r in rows] == ["BB-LOUD"]
    assert counters.affected(db_engine, now - dt.timedelta(days=1)) == []  # not monitored


def test_old_buckets_are_pruned(db_engine: sa.Engine) -> None:
    counters.record(db_engine, 1, [CountDelta(1, 5, "BB-1", "enforce", 1)], {}, T0)
    later = T0 + dt.timedelta(days=100)
    counters.record(db_engine, 1, [CountDelta(1, 5, "BB-1", "enforce", 1)], {}, later,
                    retention=dt.timedelta(days=62))
    rows = counters.suspects(db_engine, dt.timedelta(days=365), 0, later)
    assert rows[0]["packets"] == 1
