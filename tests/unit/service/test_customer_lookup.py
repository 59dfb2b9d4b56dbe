"""LineLookup: the customer page's verdict for a source address, on SQLite and PostgreSQL.

Every case is written through the service layer (as an operator would) and
then asked as the page asks: an address and a time. The verdicts must agree
with the policy's own rules (most specific prefix wins, ``blocked_at``,
``PolicySnapshot.enforcement``).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from op25b_app.service import AttachmentSpec, LineLookup, PolicyService, ValidationError

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=30)
SOON = NOW + dt.timedelta(days=7)


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    """Two edge switches; broadband, dial-up, opt-outs, nested and IPv6 prefixes."""
    svc = PolicyService(db_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1", uplinks=[1])
    svc.add_switch(2, "edge2", uplinks=[1])
    svc.add_subscriber("BB-1", "Taro", "broadband",
                       [AttachmentSpec(1, 2, None, ("198.51.100.7/32", "2001:db8:100::/56"))])
    svc.add_subscriber("DU-1", "Jiro", "dialup", [AttachmentSpec(1, 3, None, ("203.0.113.0/24",))])
    # A broadband customer carved out of the dial-up pool: the /32 is more specific.
    svc.add_subscriber("BB-2", "Hanako", "broadband",
                       [AttachmentSpec(1, 4, None, ("203.0.113.9/32",))])
    svc.add_subscriber("BB-3", "Saburo", "broadband",
                       [AttachmentSpec(2, 2, None, ("192.0.2.64/26",))])
    svc.exempt_subscriber("BB-3", "own mail server", until=SOON)
    svc.add_subscriber("BB-4", "Shiro", "broadband",
                       [AttachmentSpec(2, 3, None, ("192.0.2.8/32",))])
    svc.exempt_subscriber("BB-4", "own mail server")
    svc.add_subscriber("BB-5", "Goro", "broadband", [AttachmentSpec(1, 5, None, ())])
    return svc


@pytest.fixture
def lookup(db_engine: sa.Engine, service: PolicyService) -> LineLookup:
    return LineLookup(db_engine, clock=lambda: NOW)


def test_broadband_line_is_blocked_now(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("198.51.100.7")
    assert (verdict.known, verdict.blocked_now, verdict.subject) == (True, True, True)
    assert verdict.blocked_from is None and not verdict.opt_out and not verdict.monitoring


def test_ipv6_address_inside_a_delegated_prefix(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("2001:db8:100:ff::25")
    assert verdict.known and verdict.blocked_now
    assert verdict.address == "2001:db8:100:ff::25"
    assert not lookup.line_verdict("2001:db8:101::1").known


def test_ipv4_mapped_ipv6_peer_is_the_ipv4_address(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("::ffff:198.51.100.7")
    assert verdict.address == "198.51.100.7" and verdict.blocked_now


def test_dialup_line_is_not_subject(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("203.0.113.50")
    assert verdict.known and not verdict.blocked_now and not verdict.subject
    assert verdict.blocked_from is None


def test_most_specific_prefix_wins(lookup: LineLookup) -> None:
    """The broadband /32 inside the dial-up /24 decides for its own address only."""
    assert lookup.line_verdict("203.0.113.9").blocked_now
    assert not lookup.line_verdict("203.0.113.10").blocked_now


def test_opt_out_with_expiry(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("192.0.2.100")
    assert verdict.known and not verdict.blocked_now and verdict.opt_out
    assert verdict.opt_out_until == SOON and verdict.blocked_from == SOON
    after = lookup.line_verdict("192.0.2.100", SOON)
    assert after.blocked_now and not after.opt_out and after.opt_out_until is None


def test_opt_out_without_expiry(lookup: LineLookup) -> None:
    verdict = lookup.line_verdict("192.0.2.8")
    assert verdict.opt_out and verdict.opt_out_until is None
    assert not verdict.blocked_now and verdict.blocked_from is None


def test_unknown_addresses(lookup: LineLookup) -> None:
    """Outside every prefix, or a port-only line (BB-5): unknown, with the global rule."""
    for address in ("8.8.8.8", "10.0.0.1", "2001:db8:ffff::1"):
        verdict = lookup.line_verdict(address)
        assert not verdict.known, address
        assert verdict.blocked_now and not verdict.monitoring and verdict.enforce_at is None


def test_scheduled_global_enforcement(service: PolicyService, lookup: LineLookup) -> None:
    service.set_enforcement("monitor", LATER)
    verdict = lookup.line_verdict("198.51.100.7")
    assert not verdict.blocked_now and verdict.monitoring
    assert verdict.enforce_at == LATER and verdict.blocked_from == LATER
    assert lookup.line_verdict("198.51.100.7", LATER).blocked_now
    unknown = lookup.line_verdict("8.8.8.8")
    assert not unknown.known and unknown.monitoring and unknown.enforce_at == LATER


def test_per_switch_schedule_overrides_global(service: PolicyService,
                                              lookup: LineLookup) -> None:
    service.set_enforcement("monitor", LATER, dpid=2)
    on_switch_2 = lookup.line_verdict("192.0.2.100", SOON)  # opt-out over, switch monitors
    assert not on_switch_2.blocked_now and on_switch_2.blocked_from == LATER
    assert lookup.line_verdict("198.51.100.7").blocked_now  # switch 1 still enforces
    assert lookup.line_verdict("8.8.8.8").blocked_now  # the global rule is unchanged


def test_opt_out_ending_before_enforcement_start(service: PolicyService,
                                                 lookup: LineLookup) -> None:
    """Blocked only when both have passed: the later of the two dates."""
    service.set_enforcement("monitor", LATER)
    verdict = lookup.line_verdict("192.0.2.100")
    assert verdict.opt_out and verdict.opt_out_until == SOON and verdict.blocked_from == LATER


def test_monitor_without_a_date(service: PolicyService, lookup: LineLookup) -> None:
    service.set_enforcement("monitor")
    verdict = lookup.line_verdict("198.51.100.7")
    assert not verdict.blocked_now and verdict.monitoring and verdict.blocked_from is None


def test_equal_prefixes_that_disagree_are_unknown(service: PolicyService,
                                                  lookup: LineLookup) -> None:
    """The same /32 on two ports for a blocked and an exempt account: the address alone
    cannot say which line it is, so the page must not pick one."""
    service.add_subscriber("DU-2", "Other", "dialup",
                           [AttachmentSpec(2, 4, None, ("198.51.100.7/32",))])
    assert not lookup.line_verdict("198.51.100.7").known


def test_equal_prefixes_that_agree_are_known(service: PolicyService,
                                             lookup: LineLookup) -> None:
    service.add_attachments("BB-1", [AttachmentSpec(2, 5, None, ("198.51.100.7/32",))])
    assert lookup.line_verdict("198.51.100.7").blocked_now


def test_not_an_address(lookup: LineLookup) -> None:
    with pytest.raises(ValidationError):
        lookup.line_verdict("testclient")


def test_the_lookup_writes_nothing(db_engine: sa.Engine, lookup: LineLookup) -> None:
    def revision() -> int:
        with db_engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one())

    before = revision()
    for address in ("198.51.100.7", "8.8.8.8", "2001:db8:100::1"):
        lookup.line_verdict(address)
    assert revision() == before
