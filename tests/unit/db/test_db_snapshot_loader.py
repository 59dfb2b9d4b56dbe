"""load_snapshot: correct, consistent, and strict about rows written by hand.

A bad row is quarantined: left out (or made to block), named exactly, and
never allowed to stop the rest of the snapshot from loading.
"""

from __future__ import annotations

import datetime as dt
import gc

import netaddr
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from op25b_app.db.engine import read_connection
from op25b_app.db.row_checks import SnapshotError, prefix_parser
from op25b_app.db.snapshot_loader import load_snapshot, read_revision
from op25b_app.core.prefixes import network_text, plain_prefix
from op25b_app.service import AttachmentSpec, PolicyService
from op25b_app.core.snapshot import ROLE_CORE, SwitchInfo

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BIG_DPID = 0xFFFF_0000_0000_0001


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    return _example_service(db_engine)


def _example_service(db_engine: sa.Engine) -> PolicyService:
    svc = PolicyService(db_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1", uplinks=[1, 2])
    svc.add_switch(BIG_DPID, "edge-big")
    svc.add_switch(0x10, "core1", role=ROLE_CORE)
    svc.add_subscriber(
        "A100",
        "Taro",
        "broadband",
        [AttachmentSpec(1, 3, None, ("10.1.0.5/32", "2001:db8:100::/56"))],
    )
    svc.add_subscriber("A101", "Hanako", "dialup", [AttachmentSpec(1, 4, 100)])
    svc.add_subscriber("A102", "", "broadband", [AttachmentSpec(BIG_DPID, 7, 0, ("10.2.0.0/24",))])
    svc.exempt_subscriber("A102", "own MTA", dt.datetime(2026, 12, 31, tzinfo=dt.UTC))
    svc.add_mta("relay1", "192.0.2.25/32")
    svc.add_mta("relay6", "2001:db8:25::/64")
    return svc


def test_snapshot_contents(db_engine: sa.Engine, service: PolicyService) -> None:
    snapshot = load_snapshot(db_engine)
    with db_engine.connect() as conn:
        assert snapshot.revision == read_revision(conn)
    assert snapshot.switches == {
        1: SwitchInfo(1, "edge1", "edge", frozenset({1, 2})),
        BIG_DPID: SwitchInfo(BIG_DPID, "edge-big", "edge", frozenset()),
        0x10: SwitchInfo(0x10, "core1", "core", frozenset()),
    }
    edge1 = snapshot.attachments_for(1)
    assert [(a.account, a.port, a.vlan, a.prefix) for a in edge1] == [
        ("A100", 3, None, netaddr.IPNetwork("10.1.0.5/32")),
        ("A100", 3, None, netaddr.IPNetwork("2001:db8:100::/56")),
        ("A101", 4, 100, None),
    ]
    assert [(a.type_name, a.type_blocked, a.blocked_at(NOW)) for a in edge1] == [
        ("broadband", True, True),
        ("broadband", True, True),
        ("dialup", False, False),
    ]
    (big,) = snapshot.attachments_for(BIG_DPID)
    assert (big.dpid, big.vlan, big.exempt) == (BIG_DPID, 0, True)
    assert big.exempt_until == dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    assert big.exempt_until is not None and big.exempt_until.tzinfo == dt.UTC
    assert not big.blocked_at(NOW)
    assert big.blocked_at(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert [(m.name, m.prefix) for m in snapshot.mtas] == [
        ("relay1", netaddr.IPNetwork("192.0.2.25/32")),
        ("relay6", netaddr.IPNetwork("2001:db8:25::/64")),
    ]
    assert snapshot.attachments_for(0x10) == ()


def test_empty_database_gives_empty_snapshot(db_engine: sa.Engine) -> None:
    snapshot = load_snapshot(db_engine)
    assert (snapshot.revision, dict(snapshot.switches), snapshot.mtas) == (1, {}, ())


def test_accepts_session_and_connection(db_engine: sa.Engine, service: PolicyService) -> None:
    expected = load_snapshot(db_engine)
    with Session(db_engine) as session:
        assert load_snapshot(session) == expected
    with db_engine.connect() as conn:
        assert load_snapshot(conn) == expected


def test_one_read_transaction_sees_one_state(db_engine: sa.Engine, service: PolicyService) -> None:
    """A write committed mid-read must not leak into the snapshot (or its revision)."""
    with read_connection(db_engine) as conn:
        before = read_revision(conn)
        service.add_subscriber("A200", "", "broadband", [AttachmentSpec(1, 9)])
        snapshot = load_snapshot(conn)
    assert snapshot.revision == before
    assert "A200" not in {a.account for a in snapshot.attachments_for(1)}
    assert "A200" in {a.account for a in load_snapshot(db_engine).attachments_for(1)}


def _raw(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)


def _attachment_id(engine: sa.Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT id FROM attachments WHERE prefix = :p"), {"p": prefix}
            ).scalar_one()
        )


_NOT_CARRIES = "not a comma list of mpls, pppoe, qinq (NULL for none)"


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("prefix", "10.0.0.300/24", "not a valid IPv4/IPv6 prefix"),
        ("prefix", "garbage", "not a valid IPv4/IPv6 prefix"),
        ("prefix", "", "not a valid IPv4/IPv6 prefix"),
        ("prefix", "10.1.0.5/24", "not in canonical form (expected 10.1.0.0/24)"),
        ("prefix", "2001:DB8::/32", "not in canonical form (expected 2001:db8::/32)"),
        ("prefix", "10.0.0.0/255.255.255.0", "not in canonical form (expected 10.0.0.0/24)"),
        ("prefix", "::ffff:10.0.0.1/128", "IPv4-mapped IPv6 prefix"),
        # An unknown kind would pass nothing while its author believes it passes something.
        ("carries", "vxlan", _NOT_CARRIES),
        ("carries", "mpls,vxlan", _NOT_CARRIES),
        ("carries", "MPLS", _NOT_CARRIES),
        ("carries", "mpls, qinq", _NOT_CARRIES),
        ("carries", "mpls,", _NOT_CARRIES),
        ("carries", "", _NOT_CARRIES),
    ],
)
def test_raw_sql_bad_attachment_field_is_quarantined_and_named(
    db_engine: sa.Engine, service: PolicyService, field: str, bad: str, reason: str
) -> None:
    row_id = _attachment_id(db_engine, "10.1.0.5/32")
    _raw(db_engine, f"UPDATE attachments SET {field} = '{bad}' WHERE id = {row_id}")
    snapshot = load_snapshot(db_engine)
    [row] = snapshot.quarantined
    assert (row.table, row.row_id, row.field, row.value) == ("attachments", str(row_id), field,
                                                             bad)
    assert str(row) == f"table 'attachments' row {row_id} field '{field}' value '{bad}': {reason}"
    ids = {a.attachment_id for a in snapshot.attachments_for(1)}
    if field == "prefix":
        assert row_id not in ids  # left out: its traffic gets what an unknown sender gets
    else:
        # An unknown encapsulation counts as none carried (the guard drops it).
        [rule] = [a for a in snapshot.attachments_for(1) if a.attachment_id == row_id]
        assert rule.carries == frozenset()
    # The rest of the database loads as before.
    assert {a.account for a in snapshot.attachments_for(1)} >= {"A101"}
    assert {a.account for a in snapshot.attachments_for(BIG_DPID)} == {"A102"}


def test_a_bad_block_closes_the_opt_outs_on_its_port(db_engine: sa.Engine,
                                                      service: PolicyService) -> None:
    """A blocked /32 inside an exempt port-wide attachment must not open by being
    left out: the port's exemptions are suspended while the row is bad."""
    service.add_subscriber("POOL", "", "dialup", [AttachmentSpec(1, 3)])
    row_id = _attachment_id(db_engine, "10.1.0.5/32")  # A100, broadband, port 3
    _raw(db_engine, f"UPDATE attachments SET prefix = 'garbage' WHERE id = {row_id}")
    snapshot = load_snapshot(db_engine)
    on_port_3 = [a for a in snapshot.attachments_for(1) if a.port == 3]
    assert {a.account for a in on_port_3} == {"A100", "POOL"}
    assert all(a.blocked_at(NOW) for a in on_port_3)
    # Other ports keep their exemptions.
    [dialup] = [a for a in snapshot.attachments_for(1) if a.account == "A101"]
    assert not dialup.blocked_at(NOW)


def test_a_bad_subscriber_fact_blocks_that_subscriber(sqlite_engine: sa.Engine) -> None:
    service = _example_service(sqlite_engine)
    service.exempt_subscriber("A100", "own MTA")
    _raw(sqlite_engine, "UPDATE subscribers SET exempt = 'yes' WHERE account = 'A100'")
    snapshot = load_snapshot(sqlite_engine)
    mine = [a for a in snapshot.attachments_for(1) if a.account == "A100"]
    assert mine and all(a.blocked_at(NOW) for a in mine)
    assert [(q.table, q.field) for q in snapshot.quarantined] == [("subscribers", "exempt")]


def test_carried_encapsulations_are_loaded(db_engine: sa.Engine, service: PolicyService) -> None:
    service.add_attachments("A101", [AttachmentSpec(1, 9, 300, (), ("qinq", "mpls", "qinq"))])
    with db_engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT carries FROM attachments WHERE port = 9")).scalar()
    assert stored == "mpls,qinq"  # the canonical text: sorted, each once
    by_port = {a.port: a.carries for a in load_snapshot(db_engine).attachments_for(1)}
    assert by_port == {3: frozenset(), 4: frozenset(), 9: frozenset({"mpls", "qinq"})}
    # Written by hand in another order it still means the same kinds.
    _raw(db_engine, "UPDATE attachments SET carries = 'qinq,pppoe' WHERE port = 9")
    (carried,) = [a for a in load_snapshot(db_engine).attachments_for(1) if a.port == 9]
    assert carried.carries == frozenset({"pppoe", "qinq"})


def test_raw_sql_duplicate_match_becomes_one_block(db_engine: sa.Engine,
                                                   service: PolicyService) -> None:
    """A hand-written row with a wrong match_key could duplicate a match; the loader
    keeps one entry there, blocking, and names the duplicate."""
    service.exempt_subscriber("A100", "own MTA")
    _raw(
        db_engine,
        "INSERT INTO attachments (subscriber_id, switch_id, port, prefix, match_key) "
        "SELECT subscriber_id, switch_id, port, prefix, 'typo' FROM attachments "
        "WHERE prefix = '10.1.0.5/32'",
    )
    snapshot = load_snapshot(db_engine)
    [row] = snapshot.quarantined
    assert row.field == "match_key" and "same match as attachment" in row.reason
    same = [a for a in snapshot.attachments_for(1)
            if a.prefix == netaddr.IPNetwork("10.1.0.5/32")]
    assert len(same) == 1 and same[0].blocked_at(NOW)


@pytest.mark.parametrize(
    ("sql", "field"),
    [
        ("UPDATE mtas SET prefix = '192.0.2.256/32' WHERE name = 'relay1'", "prefix"),
        ("UPDATE mtas SET prefix = '0.0.0.0/0' WHERE name = 'relay1'", "prefix"),
    ],
)
def test_raw_sql_bad_mta_is_left_out(
    db_engine: sa.Engine, service: PolicyService, sql: str, field: str
) -> None:
    _raw(db_engine, sql)
    snapshot = load_snapshot(db_engine)
    assert [(q.table, q.field) for q in snapshot.quarantined] == [("mtas", field)]
    assert [m.name for m in snapshot.mtas] == ["relay6"]


@pytest.mark.parametrize(
    ("sql", "table", "field", "value"),
    [
        ("UPDATE subscribers SET exempt_until = 'next tuesday' WHERE account = 'A100'",
         "subscribers", "exempt_until", "next tuesday"),
        ("UPDATE subscribers SET exempt = 2 WHERE account = 'A100'", "subscribers", "exempt",
         "2"),
        ("UPDATE subscribers SET exempt = 'yes' WHERE account = 'A100'", "subscribers",
         "exempt", "yes"),
        ("UPDATE connection_types SET blocked = 'no' WHERE name = 'dialup'",
         "connection_types", "blocked", "no"),
        ("UPDATE switches SET role = 'router' WHERE name = 'core1'", "switches", "role",
         "router"),
        ("UPDATE switches SET mode = 'off' WHERE name = 'edge1'", "switches", "mode", "off"),
        ("UPDATE switch_uplinks SET port = 3.5 WHERE port = 2", "switch_uplinks", "port", "3.5"),
        ("UPDATE global_enforcement SET mode = 'never'", "global_enforcement", "mode", "never"),
    ],
)
def test_sqlite_untyped_values_are_quarantined_and_fail_closed(
    sqlite_engine: sa.Engine, sql: str, table: str, field: str, value: str
) -> None:
    """SQLite stores whatever raw SQL writes; PostgreSQL's column types refuse it."""
    db_engine = sqlite_engine
    _example_service(db_engine)  # the same example data as the other tests
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT OR IGNORE INTO global_enforcement (id, mode) "
                             "VALUES (1, 'enforce')")
    with db_engine.begin() as conn:
        # What a CHECK constraint refuses, raw SQL on SQLite can still write.
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        conn.exec_driver_sql(sql)
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    snapshot = load_snapshot(db_engine)
    assert [(q.table, q.field, q.value) for q in snapshot.quarantined] == [(table, field, value)]
    if table == "connection_types":
        [dialup] = [a for a in snapshot.attachments_for(1) if a.account == "A101"]
        assert dialup.blocked_at(NOW)
    if table == "switches" and field == "role":
        assert snapshot.switches[0x10].role == "edge"
    if table == "switches" and field == "mode":
        assert snapshot.enforcement(1, NOW) == ("enforce", None)
    if table == "switch_uplinks":
        assert snapshot.switches[1].uplink_ports == frozenset({1})
    if table == "global_enforcement":
        assert snapshot.mode == "enforce"


def test_a_switch_without_a_usable_dpid_is_left_out(sqlite_engine: sa.Engine) -> None:
    _example_service(sqlite_engine)
    _raw(sqlite_engine, "UPDATE switches SET dpid = 'x' WHERE name = 'edge-big'")
    snapshot = load_snapshot(sqlite_engine)
    assert BIG_DPID not in snapshot.switches
    assert ("switches", "dpid") in [(q.table, q.field) for q in snapshot.quarantined]
    # Its attachments have no switch now; they are named too.
    assert ("attachments", "switch_id") in [(q.table, q.field) for q in snapshot.quarantined]


def test_gc_state_is_restored(db_engine: sa.Engine) -> None:
    assert gc.isenabled()
    load_snapshot(db_engine)
    assert gc.isenabled()
    gc.disable()
    try:
        load_snapshot(db_engine)
        assert not gc.isenabled()
    finally:
        gc.enable()


@given(
    st.one_of(
        st.tuples(st.just(4), st.integers(0, 2**32 - 1), st.integers(0, 32)),
        st.tuples(st.just(6), st.integers(0, 2**128 - 1), st.integers(0, 128)),
    )
)
def test_fast_prefix_path_agrees_with_netaddr(case: tuple[int, int, int]) -> None:
    """The inet_pton fast path may only ever accept what netaddr calls canonical."""
    version, value, length = case
    network = netaddr.IPNetwork((value, length), version).cidr
    text = str(network)
    # The compiler's formatter: netaddr's text, host bits dropped as .cidr does.
    assert network_text(netaddr.IPNetwork((value, length), version)) == text
    fast = plain_prefix(text)
    if fast is not None:
        assert fast[0] == network and str(fast[0]) == text and fast[1] == text
    parse = prefix_parser("attachments")
    if version == 6 and network in netaddr.IPNetwork("::ffff:0:0/96"):
        with pytest.raises(SnapshotError):
            parse(1, text)
    else:
        assert parse(1, text) == network
        assert str(parse(1, text)) == text
    if network.prefixlen < (32 if version == 4 else 128):
        # The same prefix with host bits set, or upper-case, is rejected.
        with_host = f"{netaddr.IPAddress(network.last, version)}/{network.prefixlen}"
        # Input validation's use of the fast path: host bits cleared, as netaddr does.
        fast = plain_prefix(with_host)
        if fast is not None:
            assert fast == (network, text)
        if with_host != text:
            with pytest.raises(SnapshotError):
                parse(1, with_host)
    if text.upper() != text:
        with pytest.raises(SnapshotError):
            parse(1, text.upper())
