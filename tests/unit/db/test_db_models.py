"""Storage forms: 64-bit dpids, UTC-only times, canonical prefixes, match keys."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.engine import write_session
from op25b_app.core.limits import MAX_DPID
from op25b_app.db.models import (
    Subscriber,
    Switch,
    canonical_prefix,
    dpid_from_db,
    dpid_to_db,
    make_match_key,
)

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.parametrize(
    ("dpid", "stored"),
    [(0, 0), (1, 1), (2**63 - 1, 2**63 - 1), (2**63, -(2**63)), (MAX_DPID, -1)],
)
def test_dpid_mapping_round_trips(dpid: int, stored: int) -> None:
    assert dpid_to_db(dpid) == stored
    assert dpid_from_db(stored) == dpid


@pytest.mark.parametrize("dpid", [-1, 2**64])
def test_dpid_mapping_rejects_out_of_range(dpid: int) -> None:
    with pytest.raises(ValueError):
        dpid_to_db(dpid)


def test_top_bit_dpid_survives_the_database(db_engine: sa.Engine) -> None:
    with write_session(db_engine) as session:
        session.add(Switch(dpid=MAX_DPID, name="big", role="edge"))
        session.add(Switch(dpid=0x8000_0000_0000_0001, name="half", role="edge"))
    with Session(db_engine) as session:
        assert sorted(session.scalars(sa.select(Switch.dpid))) == [
            0x8000_0000_0000_0001,
            MAX_DPID,
        ]
        assert session.scalar(sa.select(Switch.name).where(Switch.dpid == MAX_DPID)) == "big"
    with db_engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT dpid FROM switches WHERE name = 'big'").scalar()
    assert raw == -1


def test_times_are_stored_in_utc_and_read_back_aware(db_engine: sa.Engine) -> None:
    until = dt.datetime(2026, 12, 31, 0, 0, tzinfo=JST)
    with write_session(db_engine) as session:
        session.add(Subscriber(account="A1", name="", type_id=1, exempt=True, exempt_until=until))
    with Session(db_engine) as session:
        stored = session.scalar(sa.select(Subscriber.exempt_until))
    assert stored == until
    assert stored is not None and stored.tzinfo == dt.UTC
    assert stored.hour == 15 and stored.day == 30


def test_naive_times_are_rejected_on_write(db_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with write_session(db_engine) as session:
            session.add(
                Subscriber(account="A1", name="", type_id=1, exempt_until=dt.datetime(2026, 12, 31))
            )
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM subscribers").scalar() == 0


def test_canonical_prefix_and_match_key() -> None:
    assert canonical_prefix("10.1.0.5/24") == "10.1.0.0/24"
    assert canonical_prefix("2001:DB8::1/32") == "2001:db8::/32"
    assert make_match_key(1, 3, None, None) == "1:3:*:*"
    assert (
        make_match_key(2**64 - 1, 3, 100, "10.0.0.0/8") == "18446744073709551615:3:100:10.0.0.0/8"
    )
