"""Random interleavings of Start/Interim/Stop/On/Off and retransmissions, in random batches,
end in the same session table as a small reference model of the rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op25b_app.db import migrate
from op25b_app.db.engine import make_engine
from op25b_app.db.models import SubscriberSession
from op25b_app.service import AccountingEvent, Place, PolicyService

T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
_EXAMPLES = itertools.count()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyService]:
    path: Path = tmp_path_factory.mktemp("model") / "op25b.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    service = PolicyService(engine, actor="model")
    service.add_switch(1, "edge1", uplinks=[1])
    yield service
    engine.dispose()


@dataclasses.dataclass
class Row:
    nas: str
    sid: str
    account: str
    ip: str | None
    started: dt.datetime
    ended: dt.datetime | None = None
    reason: str | None = None


class Model:
    """The rules of ``service.session_apply``, restated plainly."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def latest(self, nas: str, sid: str) -> Row | None:
        return next((r for r in reversed(self.rows) if (r.nas, r.sid) == (nas, sid)), None)

    def apply(self, e: AccountingEvent) -> None:
        t = e.event_time
        if e.acct_session_id is None:
            for r in self.rows:
                if r.nas == e.nas and r.ended is None and r.started <= t:
                    r.ended, r.reason = t, f"accounting-{e.kind}"
            return
        row = self.latest(e.nas, e.acct_session_id)
        if e.kind == "stop":
            if row is None:
                self.rows.append(Row(e.nas, e.acct_session_id, e.account, None, t, t,
                                     "stop-before-start"))
            elif row.ended is None:
                row.ended, row.reason = max(t, row.started), "stop"
            return
        if row is not None and row.ended is not None:
            if t <= row.ended:
                return
            row = None
        ip = None if e.framed_ip is None else f"{e.framed_ip}/32"
        if row is not None and e.account == row.account and ip in (None, row.ip):
            return
        for other in self.rows:
            if other is not row and other.ended is None and ip is not None and other.ip == ip:
                other.ended, other.reason = max(t, other.started), "address-reassigned"
        if row is None:
            self.rows.append(Row(e.nas, e.acct_session_id, e.account, ip, t))
        else:
            row.account = e.account
            row.ip = ip or row.ip


def events(nas: str) -> st.SearchStrategy[list[AccountingEvent]]:
    def event(kind: str, which_nas: str, sid: str, account: str, ip: str | None,
              second: int) -> AccountingEvent:
        when = T0 + dt.timedelta(seconds=second)
        if kind in ("on", "off"):
            return AccountingEvent(kind=kind, nas=which_nas, received_at=T0, event_time=when,
                                   timestamped=True)
        return AccountingEvent(kind=kind, nas=which_nas, received_at=T0, event_time=when,
                               acct_session_id=sid, account=account, place=Place(1, 5),
                               framed_ip=ip, timestamped=True)

    one = st.builds(event, st.sampled_from(["start", "interim", "stop", "on", "off"]),
                    st.sampled_from([f"{nas}-a", f"{nas}-b"]), st.sampled_from("xyz"),
                    st.sampled_from(["A", "B"]),
                    st.sampled_from([None, "198.51.100.1", "198.51.100.2", "198.51.100.3"]),
                    st.integers(0, 30))
    # Retransmissions: some events repeated later, exactly.
    return st.lists(one, min_size=1, max_size=25).flatmap(
        lambda base: st.lists(st.sampled_from(base), max_size=8).map(lambda again: base + again)
        .flatmap(st.permutations))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_interleavings_match_the_model(service: PolicyService, data: st.DataObject) -> None:
    nas = f"n{next(_EXAMPLES)}"
    sequence = data.draw(events(nas))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(sequence) - 1)), max_size=4)))
    model = Model()
    for event in sequence:
        model.apply(event)
    for start, end in itertools.pairwise([0, *cuts, len(sequence)]):
        if sequence[start:end]:
            service.apply_accounting(sequence[start:end])
    table = SubscriberSession.__table__
    with service._engine.connect() as conn:  # noqa: SLF001 - the test reads the table itself
        stored = conn.execute(sa.select(table).where(table.c.nas.like(f"{nas}-%"))
                              .order_by(table.c.id)).all()
    got = [(r.nas, r.acct_session_id, r.account, r.framed_ip, r.started_at, r.ended_at,
            r.end_reason) for r in stored]
    want = [(r.nas, r.sid, r.account, r.ip, r.started, r.ended, r.reason) for r in model.rows]
    assert got == want
