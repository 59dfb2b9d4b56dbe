"""A database change reaches a connected switch as a change, not a recompile.

The real database source (SQLite and PostgreSQL) and the enforcer against
the mocked switch of ``test_enforcer``: one subscriber added to a switch
with many costs one flow mod each way, with no read-back of the switch;
what cannot be patched (an MTA change) still arrives, compiled in full.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from op25b_app.core.options import PolicyOptions
from op25b_app.db.change_source import DatabaseSource
from op25b_app.db.migrate import upgrade
from op25b_app.openflow.enforcer import Enforcer, EnforcerOptions
from op25b_app.service import AttachmentSpec, PolicyService
from tests.unit.openflow.test_enforcer import NOW, FakeDatapath, SyncRuntime

DPID = 1


def _setup(url: str) -> tuple[PolicyService, Enforcer, FakeDatapath, DatabaseSource]:
    source = DatabaseSource(url)
    upgrade(source.engine)
    service = PolicyService(source.engine, clock=lambda: NOW)
    service.add_switch(DPID, "edge", uplinks=[1])
    for i in range(300):
        service.add_subscriber(f"S{i}", "", "broadband",
                               [AttachmentSpec(DPID, 2 + i % 7, None, (f"10.1.{i >> 8}.{i & 255}/32",))])
    enforcer = Enforcer(PolicyOptions(), EnforcerOptions(), SyncRuntime(), source)
    enforcer.runtime.clock = dt.datetime.now(dt.UTC)
    dp = FakeDatapath(DPID)
    dp.enforcer = enforcer
    dp.supports_bundles = True
    assert enforcer.refresh()
    enforcer.switch_connected(DPID, dp)
    return service, enforcer, dp, source


def test_one_subscriber_costs_one_entry_and_no_read_back(db_url: str) -> None:
    service, enforcer, dp, source = _setup(db_url)
    session = enforcer.sessions[DPID]
    assert len(dp.table) == len(session.installed) > 300
    dp.wire.clear()
    service.add_subscriber("NEW", "", "broadband", [AttachmentSpec(DPID, 3, None, ("10.9.9.9/32",))])
    assert enforcer.refresh()
    enforcer.request_sync(session)
    assert dp.kinds() == ["add", "barrier"]  # no flow-stats read, one round trip
    dp.wire.clear()
    service.exempt_subscriber("S5", "own MTA")
    enforcer.refresh()
    enforcer.request_sync(session)
    assert dp.kinds() == ["add", "barrier"]  # replaced in place
    dp.wire.clear()
    service.remove_subscriber("S6")
    enforcer.refresh()
    enforcer.request_sync(session)
    assert dp.kinds() == ["delete", "barrier"]
    # The switch holds exactly what a full compile gives.
    from op25b_app.core.compile import compile_policy
    assert len(dp.table) == len(compile_policy(enforcer.snapshot, DPID,
                                               enforcer.runtime.now())[0])
    assert session.installed is session.policy.entries
    source.engine.dispose()


def test_a_change_that_cannot_be_patched_is_compiled_in_full(db_url: str) -> None:
    service, enforcer, dp, source = _setup(db_url)
    dp.wire.clear()
    service.add_mta("relay", "192.0.2.25/32")
    assert enforcer.refresh()
    session = enforcer.sessions[DPID]
    enforcer.request_sync(session)
    assert session.applied_revision == enforcer.snapshot.revision
    assert session.policy is not None and session.policy.revision == enforcer.snapshot.revision
    assert any(m.priority == 32000 for m in dp.table.values())  # the MTA entry is there
    with source.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM policy_changes")).scalar() > 0
    source.engine.dispose()
