"""``op25b doctor`` on the command line: its lines, its JSON, its exit statuses."""

from __future__ import annotations

import io
import json
import re

import pytest
import sqlalchemy as sa

from op25b_app.cli.main import main
from op25b_app.db import status
from op25b_app.db.models import utc_now
from op25b_app.db.snapshot_loader import read_revision
from op25b_app.service import PolicyService

LINE = r"^(ok  |warn|fail)  [^:]+: .+"
NO_LOCAL = ["--metrics", "", "--controller-config", "/nonexistent/controller.conf"]


def doctor(url: str, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", url, "doctor", *args], stdout=out, stderr=err)
    assert err.getvalue() == ""
    return code, out.getvalue()


def serve_switch(engine: sa.Engine) -> None:
    """A live controller serving the registered switch 0x1 at the current revision."""
    PolicyService(engine).add_switch(1, "edge1", uplinks=[1])
    with engine.connect() as conn:
        revision = read_revision(conn)
    now = utc_now()
    status.write_controller(engine, "ctl-a", 1, now, now, revision, None)
    status.write_switches(engine, "ctl-a", [status.SwitchRow(1, True, now, revision, 20, None,
                                                             "nx-match")], now)


def test_exit_status_follows_the_worst_check(db_engine: sa.Engine, db_url: str) -> None:
    # No controller: a failure.
    code, text = doctor(db_url, "--metrics", "")
    assert code == 2
    assert "fail  controllers: no controller has ever reported" in text
    for line in text.splitlines():
        assert re.match(LINE, line), line
    # Everything in the database fine; the TLS config is missing: a warning only.
    serve_switch(db_engine)
    code, text = doctor(db_url, *NO_LOCAL)
    assert code == 1, text
    assert "ok    switch edge1 (0x1): on ctl-a" in text
    assert "warn  tls: controller config /nonexistent/controller.conf not readable" in text
    assert "(fix: give the controller's config file with --controller-config FILE)" in text


def test_json_carries_every_check(db_engine: sa.Engine, db_url: str) -> None:
    serve_switch(db_engine)
    code, text = doctor(db_url, "--json", *NO_LOCAL)
    data = json.loads(text)
    assert code == data["exit_status"] == 1 and data["status"] == "warn"
    assert {"status", "name", "detail", "fix"} == set(data["checks"][0])
    assert [c["name"] for c in data["checks"]][:2] == ["database", "clock"]


def test_unreachable_database_is_a_failure_line_not_a_traceback() -> None:
    code, text = doctor("postgresql://op25b@127.0.0.1:1/op25b", *NO_LOCAL)
    assert code == 2
    assert text.startswith("fail  database: postgresql+psycopg://op25b@127.0.0.1:1/op25b "
                           "unreachable")


@pytest.mark.parametrize("bad", ["0", "-1", "soon"])
def test_thresholds_must_be_positive_seconds(bad: str, sqlite_url: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--db", sqlite_url, "doctor", "--stale-after", bad], stdout=out,
                stderr=err) == 2
    assert "--stale-after" in err.getvalue()
