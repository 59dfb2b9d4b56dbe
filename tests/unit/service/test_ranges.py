"""The blocked ranges published for other operators, on SQLite and PostgreSQL.

The rule (``op25b_app.service.ranges``): an address is listed when the most
specific prefix covering it belongs to a subscriber blocked now; MTAs never;
attachments without a prefix contribute nothing.
"""

from __future__ import annotations

import datetime as dt

import netaddr
import pytest
import sqlalchemy as sa

from op25b_app.service import AttachmentSpec, PolicyService, StoredDataError, render_ranges
from op25b_app.service.ranges import BlockedRanges, most_specific_wins

NOW = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)


def service(engine: sa.Engine) -> PolicyService:
    return PolicyService(engine, clock=lambda: NOW)


def add(svc: PolicyService, account: str, kind: str, port: int, *prefixes: str) -> None:
    svc.add_subscriber(account, account, kind, [AttachmentSpec(1, port, prefixes=prefixes)])


@pytest.fixture
def isp(db_engine: sa.Engine) -> PolicyService:
    svc = service(db_engine)
    svc.add_switch(1, "edge1", uplinks=[1])
    svc.add_mta("relay1", "192.0.2.25")
    add(svc, "BB-1", "broadband", 2, "198.51.100.0/25", "2001:db8:100::/56")
    add(svc, "BB-2", "broadband", 3, "198.51.100.128/25")
    # A dial-up line and an opted-out customer inside the broadband pool.
    add(svc, "DU-1", "dialup", 4, "198.51.100.77/32", "2001:db8:100:ff::/64")
    add(svc, "BB-OPT", "broadband", 5, "198.51.100.200/32")
    svc.exempt_subscriber("BB-OPT", "runs its own MTA")
    # An opt-out for an hour: blocked again once it has ended.
    add(svc, "BB-WAS", "broadband", 6, "203.0.113.8/29")
    svc.exempt_subscriber("BB-WAS", "trial", NOW + dt.timedelta(hours=1))
    # A port-only attachment: the database does not know its addresses.
    add(svc, "BB-PORT", "broadband", 7)
    return svc


def test_blocked_prefixes_merged_without_exempt_dialup_and_port_only(
        isp: PolicyService, db_engine: sa.Engine) -> None:
    # A day later: BB-WAS's opt-out has ended.
    later = PolicyService(db_engine, clock=lambda: NOW + dt.timedelta(days=1))
    ranges = later.blocked_ranges()
    listed = netaddr.IPSet(ranges.ipv4 + ranges.ipv6)
    for blocked in ("198.51.100.1", "198.51.100.76", "198.51.100.78", "198.51.100.255",
                    "203.0.113.9", "2001:db8:100::1", "2001:db8:100:fe::1"):
        assert netaddr.IPAddress(blocked) in listed, blocked
    for exempt in ("198.51.100.77", "198.51.100.200", "2001:db8:100:ff::1", "192.0.2.25"):
        assert netaddr.IPAddress(exempt) not in listed, exempt
    # Merged: the two /25s and everything else is the fewest CIDR blocks.
    assert list(ranges.ipv4) == [str(n) for n in netaddr.cidr_merge(ranges.ipv4)]
    assert "203.0.113.8/29" in ranges.ipv4
    assert all(":" in p for p in ranges.ipv6) and all(":" not in p for p in ranges.ipv4)


def test_an_opt_out_still_running_is_left_out(isp: PolicyService) -> None:
    listed = netaddr.IPSet(isp.blocked_ranges().ipv4)
    assert netaddr.IPAddress("203.0.113.9") not in listed


def test_most_specific_prefix_wins_and_exempt_wins_a_tie() -> None:
    net = netaddr.IPNetwork
    listed = most_specific_wins([
        (net("10.0.0.0/8"), False),     # exempt pool
        (net("10.1.0.0/16"), True),     # blocked inside it
        (net("10.1.2.0/24"), False),    # exempt inside that
        (net("10.9.0.0/16"), True), (net("10.9.0.0/16"), False),  # a tie
    ])
    assert netaddr.IPAddress("10.1.3.1") in listed
    assert netaddr.IPAddress("10.1.2.1") not in listed
    assert netaddr.IPAddress("10.2.0.1") not in listed
    assert netaddr.IPAddress("10.9.0.1") not in listed


def test_an_mta_written_by_sql_inside_a_blocked_range_is_left_out(
        isp: PolicyService, db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO mtas (name, prefix) VALUES ('sqlrelay', "
                             "'198.51.100.10/32')"))
    listed = netaddr.IPSet(isp.blocked_ranges().ipv4)
    assert netaddr.IPAddress("198.51.100.10") not in listed
    assert netaddr.IPAddress("198.51.100.11") in listed


def test_a_malformed_stored_prefix_is_named(isp: PolicyService, db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE attachments SET prefix = '198.51.100.300/32' "
                             "WHERE prefix = '198.51.100.128/25'"))
    with pytest.raises(StoredDataError, match="198.51.100.300/32"):
        isp.blocked_ranges()


def test_formats() -> None:
    ranges = BlockedRanges(("198.51.100.0/25",), ("2001:db8::/56",), 7, NOW)
    assert render_ranges(ranges, "text") == "198.51.100.0/25\n2001:db8::/56\n"
    assert render_ranges(ranges, "csv") == \
        "prefix,family\n198.51.100.0/25,ipv4\n2001:db8::/56,ipv6\n"
    zone = render_ranges(ranges, "rbldnsd").splitlines()
    assert zone[2:] == [
        "$DATASET ip4set:op25b-ipv4 @",
        ":127.0.0.10:dynamic broadband, OP25B: TCP/25 from $ is blocked by its provider",
        "198.51.100.0/25",
        "$DATASET ip6trie:op25b-ipv6 @",
        ":127.0.0.10:dynamic broadband, OP25B: TCP/25 from $ is blocked by its provider",
        "2001:db8::/56",
    ]
    assert "policy revision 7" in zone[1]
    empty = BlockedRanges((), (), 1, NOW)
    assert render_ranges(empty, "text") == ""
    assert render_ranges(empty, "csv") == "prefix,family\n"
