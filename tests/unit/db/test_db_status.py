"""Status rows the controller writes back (``op25b status`` output: tests/unit/cli)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from op25b_app.db import status
from op25b_app.db.snapshot_loader import read_revision
from op25b_app.service import PolicyService

T0 = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)


def test_status_writes_are_upserts_and_do_not_advance_the_policy_revision(
    db_engine: sa.Engine,
) -> None:
    PolicyService(db_engine).add_switch(1, "edge1", uplinks=[1])
    with db_engine.connect() as conn:
        before = read_revision(conn)
    row = status.SwitchRow(1, True, T0, before, 12, None)
    for minute in range(3):
        now = T0 + dt.timedelta(minutes=minute)
        status.write_controller(db_engine, "ctl-a", 4242, T0, now, before, None)
        status.write_switches(db_engine, "ctl-a", [row], now)
    status.write_switches(db_engine, "ctl-b", [status.SwitchRow(1, False, None, None, 0,
                                                                "boom")], T0)
    with db_engine.connect() as conn:
        assert read_revision(conn) == before
    data = status.read_status(db_engine)
    assert [c["controller_id"] for c in data["controllers"]] == ["ctl-a"]
    assert data["controllers"][0]["heartbeat_at"] == T0 + dt.timedelta(minutes=2)
    rows = {s["controller_id"]: s for s in data["switches"]}
    assert rows["ctl-a"]["connected"] and rows["ctl-a"]["entries"] == 12
    assert rows["ctl-a"]["name"] == "edge1" and rows["ctl-a"]["in_sync"]
    assert rows["ctl-b"]["last_error"] == "boom" and not rows["ctl-b"]["in_sync"]


def test_fragment_mode_is_written_and_read_back(db_engine: sa.Engine) -> None:
    """What the controller read back from each switch reaches every status reader."""
    status.write_switches(db_engine, "ctl-a", [
        status.SwitchRow(1, True, T0, 3, 12, None, fragment_mode="nx-match"),
        status.SwitchRow(2, True, T0, 3, 12, None, fragment_mode="normal"),
        status.SwitchRow(3, True, T0, None, 0, None),  # not read yet
    ], T0)
    modes = {s["dpid"]: s["fragment_mode"] for s in status.read_status(db_engine)["switches"]}
    assert modes == {1: "nx-match", 2: "normal", 3: None}
    # A switch that changes its mode is rewritten like any other change.
    status.write_switches(db_engine, "ctl-a",
                          [status.SwitchRow(2, True, T0, 3, 12, None, fragment_mode="nx-match")],
                          T0 + dt.timedelta(minutes=1))
    modes = {s["dpid"]: s["fragment_mode"] for s in status.read_status(db_engine)["switches"]}
    assert modes[2] == "nx-match"
