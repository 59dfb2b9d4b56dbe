"""Database failures reach the interfaces as service errors, never as SQLAlchemy's.

An outage is ``DatabaseUnavailable`` (the API answers 503, the CLI exits 1)
naming the database without its password; a constraint the checks missed is
``Conflict``. Every kind of call is covered: reads, writes, the bulk import
and the questions ``QueryOps`` asks the ``db`` package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from op25b_app.db.engine import make_engine
from op25b_app.db.models import ConnectionType
from op25b_app.service import (
    Conflict,
    DatabaseUnavailable,
    PolicyService,
    SubscriberRecord,
    open_database,
)
from op25b_app.service.transactions import database_errors

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
#: Nothing listens on port 1: the connection is refused at once.
UNREACHABLE_PG = "postgresql://op25b:s3cret@127.0.0.1:1/op25b"

CALLS: dict[str, Callable[[PolicyService], Any]] = {
    "read": lambda s: s.list_switches(),
    "write": lambda s: s.add_switch(1, "edge1"),
    "subscriber change": lambda s: s.unexempt_subscriber("A1"),
    "enforcement": lambda s: s.set_enforcement("monitor"),
    "import": lambda s: s.import_subscribers([SubscriberRecord("A1", "", "broadband")]),
    "import dry run": lambda s: s.import_subscribers([], dry_run=True),
    "export": lambda s: s.export_subscribers(),
    "audit": lambda s: s.audit_log(),
    "status": lambda s: s.status(),
    "preview": lambda s: s.policy_preview(1),
    "affected": lambda s: s.report_affected(),
    "suspects": lambda s: s.report_suspects(),
}


@pytest.fixture(params=["postgresql", "sqlite"])
def down(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine whose database cannot be reached (refused, or a file it cannot open)."""
    if request.param == "postgresql":
        engine = open_database(UNREACHABLE_PG)
    else:
        # open_database refuses a missing file itself (test below); this is a
        # file that went missing after it was opened.
        engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'op25b.db'}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_unreachable_database_is_unavailable(
    down: sa.Engine, call: Callable[[PolicyService], Any]
) -> None:
    service = PolicyService(down, actor="ops", clock=lambda: NOW)
    with pytest.raises(DatabaseUnavailable) as caught:
        call(service)
    error = caught.value
    assert error.url == down.url.render_as_string(hide_password=True)
    assert "s3cret" not in str(error) and error.reason and "\n" not in error.reason
    assert str(error) == f"database {error.url}: {error.reason}"
    assert isinstance(error.__cause__, sa.exc.DBAPIError)


def test_the_password_is_hidden() -> None:
    engine = open_database(UNREACHABLE_PG)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            PolicyService(engine).list_switches()
    finally:
        engine.dispose()
    assert caught.value.url.startswith("postgresql+psycopg://op25b:***@127.0.0.1:1/")


def test_a_constraint_the_checks_missed_is_a_conflict(db_engine: sa.Engine) -> None:
    table = ConnectionType.__table__
    with pytest.raises(Conflict, match="constraint violated"), database_errors(db_engine), \
            db_engine.begin() as conn:
        conn.execute(sa.insert(table).values(name="broadband", blocked=True, description=""))
