"""Status rows the controller writes back, read by ``op25b status``."""

from __future__ import annotations

import datetime as dt
import io
import json

import sqlalchemy as sa

from op25b_app.cli import main as cli
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


def test_bad_revision_is_reported(db_engine: sa.Engine) -> None:
    status.write_controller(db_engine, "ctl", 1, T0, T0, 5, (7, "mtas row 2: bad prefix"))
    out = io.StringIO()
    url = db_engine.url.render_as_string(hide_password=False)
    assert cli.main(["--db", url, "status", "--json"], stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["controllers"][0]["bad_revision"] == 7
    out = io.StringIO()
    assert cli.main(["--db", url, "status"], stdout=out) == 0
    assert "REJECTED revision 7: mtas row 2: bad prefix" in out.getvalue()
