"""Sessions in the compiled policy: precedence against static attachments, fail closed, ids.

Judged with the flow-table model of tests/unit/core (what the switch would
do with a packet), from a snapshot the real loader read.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from op25b_app.core.compile import compile_policy
from op25b_app.core.session_ids import SESSION_ID_BASE, session_of
from op25b_app.db.counters import CountDelta, record
from op25b_app.db.snapshot_loader import load_snapshot
from op25b_app.service import AccountingEvent, AttachmentSpec, Place, PolicyService
from tests.unit.core.flowtable_model import ETH_TYPE_IPV4, TCP, FlowTable, Packet

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _service(engine: sa.Engine) -> PolicyService:
    service = PolicyService(engine, actor="test")
    service.add_switch(1, "edge1", uplinks=[1])
    # A broadband customer on the whole of port 5 and one with a fixed /32 on port 6.
    service.add_subscriber("BB-PORT", "", "broadband", [AttachmentSpec(1, 5)])
    service.add_subscriber("BB-FIXED", "", "broadband",
                           [AttachmentSpec(1, 6, prefixes=("198.51.100.99/32",))])
    service.add_subscriber("DU-0001", "", "dialup")
    service.add_subscriber("BB-OPT", "", "broadband")
    service.exempt_subscriber("BB-OPT", "uses its own relay", None)
    return service


def _start(service: PolicyService, sid: str, account: str, port: int, ip: str) -> None:
    service.apply_accounting([AccountingEvent(
        kind="start", nas="bng1", received_at=NOW, event_time=NOW, acct_session_id=sid,
        account=account, place=Place(1, port), framed_ip=ip)])


def _verdict(engine: sa.Engine, port: int, src: str) -> str:
    specs, _ = compile_policy(load_snapshot(engine), 1, NOW)
    return FlowTable(specs).verdict(Packet(port, None, ETH_TYPE_IPV4, TCP, src, "203.0.113.5",
                                           25))


def test_a_session_is_judged_like_a_static_attachment(db_engine: sa.Engine) -> None:
    service = _service(db_engine)
    assert _verdict(db_engine, 5, "198.51.100.10") == "drop"
    _start(service, "s1", "DU-0001", 5, "198.51.100.10")       # dial-up: exempt type
    _start(service, "s2", "BB-OPT", 5, "198.51.100.11")        # broadband with an opt-out
    _start(service, "s3", "BB-PORT", 5, "198.51.100.12")       # broadband
    _start(service, "s4", "NOBODY", 5, "198.51.100.13")        # no such subscriber
    # Most specific wins: each session's /32 beats the static port-only block of port 5.
    assert _verdict(db_engine, 5, "198.51.100.10") == "pass"
    assert _verdict(db_engine, 5, "198.51.100.11") == "pass"
    assert _verdict(db_engine, 5, "198.51.100.12") == "drop"
    assert _verdict(db_engine, 5, "198.51.100.13") == "drop"   # unknown: fail closed
    assert _verdict(db_engine, 5, "198.51.100.14") == "drop"   # the port's static block
    # Ending the session gives the address back to the static attachment.
    [view] = service.page_sessions(account="DU-0001")[0]
    service.end_session(view.id)
    assert _verdict(db_engine, 5, "198.51.100.10") == "drop"


def test_same_match_as_a_static_attachment_keeps_one_entry_failing_closed(
        db_engine: sa.Engine) -> None:
    service = _service(db_engine)
    _start(service, "s1", "DU-0001", 6, "198.51.100.99")  # exactly BB-FIXED's match
    snapshot = load_snapshot(db_engine)
    rules = [r for r in snapshot.attachments_for(1) if str(r.prefix) == "198.51.100.99/32"]
    assert len(rules) == 1 and rules[0].account == "BB-FIXED"
    assert rules[0].attachment_id < SESSION_ID_BASE
    assert _verdict(db_engine, 6, "198.51.100.99") == "drop"


def test_session_ids_never_meet_static_ids(db_engine: sa.Engine) -> None:
    service = _service(db_engine)
    _start(service, "s1", "BB-PORT", 5, "198.51.100.12")
    service.apply_accounting([AccountingEvent(
        kind="interim", nas="bng1", received_at=NOW, event_time=NOW, acct_session_id="s1",
        account="BB-PORT", framed_ipv6_prefix="2001:db8:12::/64",
        delegated_ipv6_prefix="2001:db8:1200::/56")])
    rules = load_snapshot(db_engine).attachments_for(1)
    static = {r.attachment_id for r in rules if r.type_name == "broadband"
              and r.attachment_id < SESSION_ID_BASE}
    dynamic = [r.attachment_id for r in rules if r.attachment_id >= SESSION_ID_BASE]
    [view] = service.page_sessions(account="BB-PORT")[0]
    assert len(dynamic) == len(set(dynamic)) == 3 and not static & set(dynamic)
    assert {session_of(i) for i in dynamic} == {view.id}
    assert sorted(dynamic) == sorted(view.attachment_ids)


def test_counts_of_an_ended_session_go_to_its_account(db_engine: sa.Engine) -> None:
    service = _service(db_engine)
    _start(service, "s1", "BB-PORT", 5, "198.51.100.12")
    [view] = service.page_sessions(account="BB-PORT")[0]
    service.end_session(view.id)
    # The controller's snapshot no longer knows the entry: account None.
    record(db_engine, 1, [CountDelta(1, view.attachment_ids[0], None, "enforce", 120)], {},
           NOW)
    suspects = service.report_suspects("1h", 100)
    assert [(r["account"], r["packets"]) for r in suspects] == [("BB-PORT", 120)]
    assert service.who_had("198.51.100.12", NOW)[0].account == "BB-PORT"
    assert service.who_had("198.51.100.12", NOW - dt.timedelta(hours=1)) == []
