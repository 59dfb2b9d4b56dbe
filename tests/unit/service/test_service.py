"""PolicyService: every rule, and nothing written when a rule is broken."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from op25b_app.db.models import POLICY_TABLES
from op25b_app.service import (
    AttachmentSpec,
    Conflict,
    NotFound,
    PolicyService,
    ServiceError,
    ValidationError,
    parse_attach_point,
    parse_dpid,
    parse_prefix,
    parse_time,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
JST = dt.timezone(dt.timedelta(hours=9))


def db_state(engine: sa.Engine) -> dict[str, int]:
    """Row counts of every policy table plus the revision: 'nothing written' means equal."""
    with engine.connect() as conn:
        state = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in POLICY_TABLES
        }
        state["revision"] = int(
            conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
        )
    return state


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    svc = PolicyService(db_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1", uplinks=[1, 2])
    svc.add_switch("0x10", "core1", role="core")
    svc.add_subscriber(
        "A100",
        "Taro",
        "broadband",
        [AttachmentSpec(1, 3, None, ("10.1.0.5/32", "2001:db8:100::/56"))],
    )
    svc.add_mta("relay1", "192.0.2.0/28")
    return svc


# ------------------------------------------------------------------ happy paths


def test_add_and_show_subscriber(service: PolicyService) -> None:
    view = service.show_subscriber("A100")
    assert (view.account, view.name, view.type, view.blocked_now) == (
        "A100",
        "Taro",
        "broadband",
        True,
    )
    assert [(a.dpid, a.port, a.vlan, a.prefix) for a in view.attachments] == [
        (1, 3, None, "10.1.0.5/32"),
        (1, 3, None, "2001:db8:100::/56"),
    ]
    assert view.created_at == NOW and view.updated_at == NOW
    data = view.to_dict()
    assert data["attachments"][0]["match_key"] == "1:3:*:10.1.0.5/32"
    assert data["created_at"] == "2026-06-01T12:00:00+00:00"


def test_prefix_host_bits_are_cleared(service: PolicyService) -> None:
    view = service.add_subscriber(
        "A2", "", "broadband", [AttachmentSpec("0x1", "5", "7", ("10.9.9.9/24",))]
    )
    assert [a.prefix for a in view.attachments] == ["10.9.9.0/24"]
    assert view.attachments[0].vlan == 7


def test_attachment_without_prefix_and_vlan(service: PolicyService) -> None:
    view = service.add_subscriber("D1", "", "dialup", [AttachmentSpec(1, 4)])
    assert [(a.vlan, a.prefix, a.match_key) for a in view.attachments] == [(None, None, "1:4:*:*")]
    assert not view.blocked_now


def test_subscriber_lifecycle(db_engine: sa.Engine, service: PolicyService) -> None:
    assert [s.account for s in service.list_subscribers()] == ["A100"]
    assert service.set_subscriber_type("A100", "dialup").type == "dialup"
    view = service.exempt_subscriber("A100", "own mail server", "2026-12-31T00:00+09:00")
    assert view.exempt and view.exempt_until == dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)
    view = service.unexempt_subscriber("A100")
    assert (view.exempt, view.exempt_reason, view.exempt_until) == (False, None, None)
    service.add_attachments("A100", [AttachmentSpec(1, 6, 10)])
    view = service.show_subscriber("A100")
    assert len(view.attachments) == 3
    view = service.remove_attachment("A100", view.attachments[-1].id)
    assert len(view.attachments) == 2
    service.remove_subscriber("A100")
    assert service.list_subscribers() == []
    state = db_state(db_engine)
    assert (state["subscribers"], state["attachments"]) == (0, 0)  # cascade


def test_exemption_without_expiry_and_blocked_now(service: PolicyService) -> None:
    view = service.exempt_subscriber("A100", "relay customer")
    assert view.exempt_until is None and not view.blocked_now


def test_switch_and_type_and_mta_lists(service: PolicyService) -> None:
    switches = service.list_switches()
    assert [(s.dpid, s.name, s.role, s.uplinks, s.dpid_hex) for s in switches] == [
        (1, "edge1", "edge", (1, 2), "0000000000000001"),
        (16, "core1", "core", (), "0000000000000010"),
    ]
    service.add_connection_type("ftth", True, "fibre")
    assert [(t.name, t.blocked) for t in service.list_connection_types()] == [
        ("broadband", True),
        ("dialup", False),
        ("ftth", True),
    ]
    service.add_mta("relay6", "2001:db8:25::1/64")
    assert [(m.name, m.prefix) for m in service.list_mtas()] == [
        ("relay1", "192.0.2.0/28"),
        ("relay6", "2001:db8:25::/64"),
    ]
    service.remove_mta("relay6")
    service.remove_switch(16)
    assert [s.name for s in service.list_switches()] == ["edge1"]


def test_top_bit_dpid(service: PolicyService) -> None:
    big = 2**64 - 1
    service.add_switch("0xffffffffffffffff", "big")
    view = service.add_subscriber(
        "B1", "", "broadband", [AttachmentSpec(big, 1, None, ("10.7.0.0/16",))]
    )
    assert view.attachments[0].dpid == big
    assert view.attachments[0].match_key == f"{big}:1:*:10.7.0.0/16"


def test_every_write_advances_revision(db_engine: sa.Engine, service: PolicyService) -> None:
    before = db_state(db_engine)["revision"]
    service.exempt_subscriber("A100", "x")
    assert db_state(db_engine)["revision"] > before


# ------------------------------------------------------------------ rejected input

Op = Callable[[PolicyService], object]

REJECTED: list[tuple[str, Op, type[ServiceError], str, str]] = [
    # (id, operation, error, field, message fragment)
    (
        "bad prefix",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 3, None, ("10.0.0.300/24",))]
        ),
        ValidationError,
        "prefix",
        "not a valid IPv4/IPv6 prefix",
    ),
    (
        "garbage prefix",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, 3, None, ("",))]),
        ValidationError,
        "prefix",
        "not a valid",
    ),
    (
        "mapped prefix",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 3, None, ("::ffff:10.0.0.1/128",))]
        ),
        ValidationError,
        "prefix",
        "IPv4-mapped",
    ),
    (
        "second prefix bad",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 3, None, ("10.5.0.0/16", "nope"))]
        ),
        ValidationError,
        "prefix",
        "not a valid",
    ),
    (
        "unknown type",
        lambda s: s.add_subscriber("N", "", "cable", [AttachmentSpec(1, 3)]),
        ValidationError,
        "type",
        "no such connection type (known: broadband, dialup)",
    ),
    (
        "empty account",
        lambda s: s.add_subscriber("", "", "broadband", []),
        ValidationError,
        "account",
        "must not be empty",
    ),
    (
        "padded account",
        lambda s: s.add_subscriber(" A1", "", "broadband", []),
        ValidationError,
        "account",
        "whitespace",
    ),
    (
        "duplicate account",
        lambda s: s.add_subscriber("A100", "", "broadband", []),
        Conflict,
        "account",
        "already exists",
    ),
    (
        "port zero",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, 0)]),
        ValidationError,
        "port",
        "out of range 1..4294967040",
    ),
    (
        "port too big",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, 0xFFFFFF01)]),
        ValidationError,
        "port",
        "out of range",
    ),
    (
        "port text",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, "three")]),
        ValidationError,
        "port",
        "not a port number",
    ),
    (
        "vlan too big",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, 3, 4096)]),
        ValidationError,
        "vlan",
        "out of range 0..4095",
    ),
    (
        "dpid negative",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(-1, 3)]),
        ValidationError,
        "dpid",
        "out of range",
    ),
    ("dpid 2**64", lambda s: s.add_switch(2**64, "x"), ValidationError, "dpid", "out of range"),
    (
        "dpid garbage",
        lambda s: s.add_switch("0xZZ", "x"),
        ValidationError,
        "dpid",
        "not a datapath id",
    ),
    (
        "unregistered switch",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(99, 3)]),
        ValidationError,
        "dpid",
        "no switch with this dpid",
    ),
    (
        "core switch",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(16, 3)]),
        ValidationError,
        "dpid",
        "has role core",
    ),
    (
        "uplink port",
        lambda s: s.add_subscriber("N", "", "broadband", [AttachmentSpec(1, 2)]),
        ValidationError,
        "port",
        "is an uplink of switch 'edge1'",
    ),
    (
        "identical attachment",
        lambda s: s.add_subscriber(
            "N", "", "dialup", [AttachmentSpec(1, 3, None, ("10.1.0.5/32",))]
        ),
        Conflict,
        "attach",
        "already belongs to account 'A100'",
    ),
    (
        "identical after normalising",
        lambda s: s.add_subscriber(
            "N", "", "dialup", [AttachmentSpec("0x1", "3", None, ("2001:DB8:100::1/56",))]
        ),
        Conflict,
        "attach",
        "already belongs to account 'A100'",
    ),
    (
        "duplicate within request",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 5, None, ("10.6.0.0/16", "10.6.1.1/16"))]
        ),
        ValidationError,
        "prefix",
        "listed twice",
    ),
    (
        "attachment overlaps MTA",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 5, None, ("192.0.2.8/29",))]
        ),
        Conflict,
        "prefix",
        "overlaps MTA 'relay1'",
    ),
    (
        "attachment contains MTA",
        lambda s: s.add_subscriber(
            "N", "", "broadband", [AttachmentSpec(1, 5, None, ("192.0.0.0/8",))]
        ),
        Conflict,
        "prefix",
        "overlaps MTA 'relay1'",
    ),
    (
        "MTA overlaps attachment",
        lambda s: s.add_mta("relay2", "10.1.0.0/16", allow_wide=True),
        Conflict,
        "prefix",
        "overlaps attachment prefix 10.1.0.5/32 of account 'A100'",
    ),
    (
        "MTA overlaps v6 attachment",
        lambda s: s.add_mta("relay2", "2001:db8:100:ff::25/128"),
        Conflict,
        "prefix",
        "account 'A100'",
    ),
    (
        "MTA duplicate prefix",
        lambda s: s.add_mta("relay2", "192.0.2.0/28"),
        Conflict,
        "prefix",
        "already registered as MTA 'relay1'",
    ),
    (
        "MTA duplicate name",
        lambda s: s.add_mta("relay1", "192.0.2.128/32"),
        Conflict,
        "name",
        "already exists",
    ),
    ("MTA slash zero", lambda s: s.add_mta("any", "0.0.0.0/0"), ValidationError, "prefix", "/0"),
    (
        "MTA bad prefix",
        lambda s: s.add_mta("r", "192.0.2.1/33"),
        ValidationError,
        "prefix",
        "not a valid",
    ),
    (
        "switch duplicate dpid",
        lambda s: s.add_switch(1, "other"),
        Conflict,
        "dpid",
        "already registered as switch 'edge1'",
    ),
    (
        "switch duplicate name",
        lambda s: s.add_switch(2, "edge1"),
        Conflict,
        "name",
        "already exists",
    ),
    (
        "switch bad role",
        lambda s: s.add_switch(2, "x", role="spine"),
        ValidationError,
        "role",
        "must be one of edge, core",
    ),
    (
        "switch bad uplink",
        lambda s: s.add_switch(2, "x", uplinks=[0]),
        ValidationError,
        "uplink",
        "out of range",
    ),
    (
        "switch twice-listed uplink",
        lambda s: s.add_switch(2, "x", uplinks=[5, "5"]),
        ValidationError,
        "uplink",
        "listed twice",
    ),
    (
        "switch bad name",
        lambda s: s.add_switch(2, "has space"),
        ValidationError,
        "name",
        "must match",
    ),
    (
        "remove switch in use",
        lambda s: s.remove_switch(1),
        Conflict,
        "dpid",
        "still carries 2 attachment(s) (e.g. account 'A100')",
    ),
    ("remove unknown switch", lambda s: s.remove_switch(77), NotFound, "dpid", "not found"),
    (
        "type duplicate",
        lambda s: s.add_connection_type("dialup", False),
        Conflict,
        "name",
        "already exists",
    ),
    (
        "type bad name",
        lambda s: s.add_connection_type("Fibre!", True),
        ValidationError,
        "name",
        "must match",
    ),
    (
        "type non-bool",
        lambda s: s.add_connection_type("ftth", "yes"),  # type: ignore[arg-type]
        ValidationError,
        "blocked",
        "true or false",
    ),
    (
        "exempt naive until",
        lambda s: s.exempt_subscriber("A100", "x", "2026-12-31T00:00"),
        ValidationError,
        "until",
        "needs an explicit UTC offset",
    ),
    (
        "exempt garbage until",
        lambda s: s.exempt_subscriber("A100", "x", "soon"),
        ValidationError,
        "until",
        "not an ISO 8601 time",
    ),
    (
        "exempt past until",
        lambda s: s.exempt_subscriber("A100", "x", "2020-01-01T00:00Z"),
        ValidationError,
        "until",
        "not in the future",
    ),
    (
        "exempt no reason",
        lambda s: s.exempt_subscriber("A100", "", None),
        ValidationError,
        "reason",
        "must not be empty",
    ),
    (
        "exempt unknown",
        lambda s: s.exempt_subscriber("NOPE", "x", None),
        NotFound,
        "account",
        "not found",
    ),
    (
        "set-type unknown type",
        lambda s: s.set_subscriber_type("A100", "cable"),
        ValidationError,
        "type",
        "no such connection type",
    ),
    ("show unknown", lambda s: s.show_subscriber("NOPE"), NotFound, "account", "not found"),
    ("remove unknown", lambda s: s.remove_subscriber("NOPE"), NotFound, "account", "not found"),
    ("detach unknown id", lambda s: s.remove_attachment("A100", 999), NotFound, "id", "not found"),
    (
        "attach nothing",
        lambda s: s.add_attachments("A100", []),
        ValidationError,
        "attach",
        "at least one",
    ),
    (
        "attach existing",
        lambda s: s.add_attachments(
            "A100", [AttachmentSpec(1, 9), AttachmentSpec(1, 3, None, ("10.1.0.5/32",))]
        ),
        Conflict,
        "attach",
        "already belongs",
    ),
    ("remove unknown MTA", lambda s: s.remove_mta("nope"), NotFound, "name", "not found"),
]


@pytest.mark.parametrize(
    ("operation", "error", "field", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTED],
)
def test_rejected_input_writes_nothing(
    db_engine: sa.Engine,
    service: PolicyService,
    operation: Op,
    error: type[ServiceError],
    field: str,
    fragment: str,
) -> None:
    before = db_state(db_engine)
    with pytest.raises(error) as caught:
        operation(service)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert fragment in str(caught.value)
    assert db_state(db_engine) == before


def test_partial_request_is_all_or_nothing(db_engine: sa.Engine, service: PolicyService) -> None:
    """The first two attachments are fine; the third conflicts; none may be stored."""
    before = db_state(db_engine)
    with pytest.raises(Conflict):
        service.add_subscriber(
            "N",
            "",
            "broadband",
            [
                AttachmentSpec(1, 7, None, ("10.7.0.0/24",)),
                AttachmentSpec(1, 8),
                AttachmentSpec(1, 3, None, ("10.1.0.5/32",)),
            ],
        )
    assert db_state(db_engine) == before


def test_validation_error_message_format() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_prefix("10.0.0.300/24")
    assert str(caught.value) == "field 'prefix' value '10.0.0.300/24': not a valid IPv4/IPv6 prefix"


def test_parsers() -> None:
    assert parse_dpid("0x00000000000000FF") == 255
    assert parse_dpid("42") == 42
    assert parse_attach_point("0x1:3") == (1, 3, None)
    assert parse_attach_point("1:3:100") == (1, 3, 100)
    assert parse_time("2026-12-31T00:00Z") == dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    assert parse_time(dt.datetime(2026, 12, 31, 9, tzinfo=JST)).hour == 0
    for bad in ("1", "1:2:3:4", "x:3", "1:3:vlan"):
        with pytest.raises(ValidationError):
            parse_attach_point(bad)
    with pytest.raises(ValidationError, match="field 'dpid'"):
        parse_dpid(True)


def test_page_subscribers_filters_counts_and_pages_in_sql(service: PolicyService) -> None:
    """The API's subscriber pages: filters, total and page agree, wildcards are literal."""
    service.add_switch("0xffffffffffffffff", "big")
    service.add_subscriber("A_1", "", "broadband", [AttachmentSpec(1, 7), AttachmentSpec(1, 8)])
    service.add_subscriber("AB1", "", "dialup", [AttachmentSpec("0xffffffffffffffff", 3)])
    service.add_subscriber("A%2", "", "broadband", [AttachmentSpec("0xffffffffffffffff", 4)])

    def accounts(**kwargs: object) -> tuple[list[str], int]:
        rows, total = service.page_subscribers(**kwargs)  # type: ignore[arg-type]
        return [r.account for r in rows], total

    # The order is the database's collation of account (binary on SQLite and on
    # a C-locale PostgreSQL); pages must be consecutive slices of it.
    everyone, total = accounts()
    assert sorted(everyone) == ["A%2", "A100", "AB1", "A_1"] and total == 4
    assert accounts(limit=2, offset=1) == (everyone[1:3], 4)
    assert accounts(offset=4) == ([], 4)
    # '_' and '%' are characters of the account, not LIKE patterns.
    assert accounts(account_prefix="A_") == (["A_1"], 1)
    assert accounts(account_prefix="A%") == (["A%2"], 1)
    assert accounts(type_name="broadband") == ([a for a in everyone if a != "AB1"], 3)
    # Two attachments on one switch: the subscriber is listed (and counted) once.
    assert accounts(dpid=1) == ([a for a in everyone if a in ("A100", "A_1")], 2)
    assert accounts(dpid=2**64 - 1, type_name="broadband") == (["A%2"], 1)
    assert accounts(type_name="no-such-type") == ([], 0)
    assert service.list_subscribers() == service.page_subscribers()[0]
    # A NUL would be an error from PostgreSQL; it is refused first, naming the filter.
    with pytest.raises(ValidationError, match="account_prefix.*control characters"):
        service.page_subscribers(account_prefix="A\x00")
    with pytest.raises(ValidationError, match="type.*control characters"):
        service.page_subscribers(type_name="broad\x00band")
