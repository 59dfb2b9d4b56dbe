"""``op25b status``: what the controllers wrote back, as text and as JSON."""

from __future__ import annotations

import datetime as dt
import io
import json

import sqlalchemy as sa

from op25b_app.cli.main import main
from op25b_app.db import status

T0 = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)


def test_bad_revision_is_reported(db_engine: sa.Engine) -> None:
    status.write_controller(db_engine, "ctl", 1, T0, T0, 5, (7, "mtas row 2: bad prefix"))
    out = io.StringIO()
    url = db_engine.url.render_as_string(hide_password=False)
    assert main(["--db", url, "status", "--json"], stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["controllers"][0]["bad_revision"] == 7
    out = io.StringIO()
    assert main(["--db", url, "status"], stdout=out) == 0
    assert "REJECTED revision 7: mtas row 2: bad prefix" in out.getvalue()


def test_no_switch_reported_yet(db_engine: sa.Engine) -> None:
    out = io.StringIO()
    url = db_engine.url.render_as_string(hide_password=False)
    assert main(["--db", url, "status"], stdout=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("policy revision in database: ")
    assert lines[-1] == "no switch has been reported by a controller"


def test_switch_table_shows_fragment_handling(db_engine: sa.Engine) -> None:
    status.write_switches(db_engine, "ctl", [
        status.SwitchRow(1, True, T0, 3, 12, None, fragment_mode="nx-match"),
        status.SwitchRow(2, True, T0, 3, 12, None, fragment_mode="normal"),
        status.SwitchRow(3, False, None, None, 0, None),
    ], T0)
    url = db_engine.url.render_as_string(hide_password=False)
    out = io.StringIO()
    assert main(["--db", url, "status"], stdout=out) == 0
    header, *rows = out.getvalue().splitlines()[1:]
    assert header.split() == ["DPID", "NAME", "CONTROLLER", "CONNECTED", "SINCE", "REVISION",
                              "ENTRIES", "FRAGMENTS", "ERROR"]
    assert [row.split()[-2:] for row in rows] == [["nx-match", "-"], ["normal", "-"], ["-", "-"]]
    out = io.StringIO()
    assert main(["--db", url, "status", "--json"], stdout=out) == 0
    assert [s["fragment_mode"] for s in json.loads(out.getvalue())["switches"]] == [
        "nx-match", "normal", None]
