"""Carried encapsulations through the service: checked, stored canonical, shown, audited,
compiled, and carried through CSV import and export (with and without the column).

Runs on SQLite and PostgreSQL (``db_engine``).
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa

from op25b_app.core import constants
from op25b_app.core.constants import Band
from op25b_app.service import (
    AttachmentSpec,
    ImportRejected,
    ImportResult,
    PolicyService,
    SubscriberRecord,
    ValidationError,
    read_records,
    write_records,
)
from op25b_app.service.csv_records import COLUMNS
from tests.unit.service.test_service import db_state

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
OLD_HEADER = ",".join(c for c in COLUMNS if c != "carries")


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    svc = PolicyService(db_engine, clock=lambda: NOW, actor="test")
    svc.add_switch(1, "edge1", uplinks=[1, 2])
    svc.add_subscriber("A100", "Taro", "broadband", [AttachmentSpec(1, 3)])
    return svc


def stored_carries(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT match_key, carries FROM attachments")).all())


def import_text(service: PolicyService, text: str, dry_run: bool = False) -> ImportResult:
    records, problems = read_records(io.StringIO(text))
    assert problems == []
    return service.import_subscribers(records, dry_run=dry_run)


def export_text(service: PolicyService) -> str:
    out = io.StringIO()
    write_records(out, service.export_subscribers())
    return out.getvalue()


# ------------------------------------------------------------------ single writes


@pytest.mark.parametrize(
    ("carries", "value"),
    [(("vxlan",), "vxlan"), (("mpls", "MPLS"), "MPLS"), ((" qinq",), " qinq"), (("",), ""),
     ("mpls", "mpls")],
)
def test_unknown_kind_is_refused_naming_field_and_value(
    db_engine: sa.Engine, service: PolicyService, carries: tuple[str, ...], value: str
) -> None:
    before = db_state(db_engine)
    with pytest.raises(ValidationError) as caught:
        service.add_subscriber("A200", "", "broadband",
                               [AttachmentSpec(1, 5, 300, carries=carries)])
    assert (caught.value.field, caught.value.value) == ("carries", value)
    if isinstance(carries, tuple):
        assert caught.value.reason == (
            "not an encapsulation op25b knows (known: mpls, pppoe, qinq)")
    with pytest.raises(ValidationError, match="field 'carries' value 'vxlan'"):
        service.add_attachments("A100", [AttachmentSpec(1, 6, carries=("vxlan",))])
    assert db_state(db_engine) == before


def test_carries_are_stored_canonical_and_shown_as_a_list(
    db_engine: sa.Engine, service: PolicyService
) -> None:
    view = service.add_subscriber("A200", "", "broadband", [
        AttachmentSpec(1, 5, 300, ("10.5.0.0/24", "2001:db8:5::/48"), ("qinq", "mpls", "qinq")),
        AttachmentSpec(1, 6),
    ])
    assert [(a.port, a.carries) for a in view.attachments] == [
        (5, ("mpls", "qinq")), (5, ("mpls", "qinq")), (6, ())]
    assert view.to_dict()["attachments"][0]["carries"] == ["mpls", "qinq"]
    assert view.to_dict()["attachments"][2]["carries"] == []
    assert stored_carries(db_engine) == {
        "1:3:*:*": None,
        "1:5:300:10.5.0.0/24": "mpls,qinq",
        "1:5:300:2001:db8:5::/48": "mpls,qinq",
        "1:6:*:*": None,
    }
    assert service.show_subscriber("A200") == view


def test_audit_state_names_carries_and_keeps_plain_attachments_as_before(
    service: PolicyService,
) -> None:
    service.add_attachments("A100", [AttachmentSpec(1, 9, 300, carries=("pppoe",))])
    (entry, *_rest) = service.audit_log(account="A100", limit=1)
    assert entry.before is not None and entry.after is not None
    assert entry.before["attachments"] == ["1:3:*:*"]
    assert entry.after["attachments"] == ["1:3:*:*", "1:9:300:*+carries=pppoe"]


def test_carried_kinds_compile_into_pass_entries_on_their_port_and_vlan(
    service: PolicyService,
) -> None:
    service.add_attachments("A100", [AttachmentSpec(1, 9, 300, carries=("mpls", "pppoe"))])
    preview = service.policy_preview(1, NOW)
    guard_priority = constants.DEFAULT_PRIORITY_BASE + constants.BAND_OFFSET[Band.GUARD]
    carried = sorted((s.match_dict["eth_type"], s.actions) for s in preview.entries
                     if s.priority == guard_priority + 1)
    assert carried == [(0x8847, "normal"), (0x8848, "normal"), (0x8864, "normal")]
    assert all(s.match_dict.get("in_port") == 9
               and s.match_dict.get("vlan_vid") == constants.OFPVID_PRESENT | 300
               for s in preview.entries if s.priority == guard_priority + 1)


# ------------------------------------------------------------------ CSV import and export

FULL = "\n".join([
    ",".join(COLUMNS),
    "A200,Two,broadband,0x1,5,300,10.5.0.0/24,false,,,qinq mpls",
    'A200,Two,broadband,0x1,5,300,10.6.0.0/24,false,,,"pppoe,qinq"',
    "A200,Two,broadband,0x1,6,,,false,,,",
]) + "\n"


def test_import_with_the_column_stores_it_and_export_round_trips(
    db_engine: sa.Engine, service: PolicyService
) -> None:
    result = import_text(service, FULL)
    assert (result.added, result.attachments_added) == (1, 3)
    assert stored_carries(db_engine)["1:5:300:10.5.0.0/24"] == "mpls,qinq"
    assert stored_carries(db_engine)["1:5:300:10.6.0.0/24"] == "pppoe,qinq"
    assert stored_carries(db_engine)["1:6:*:*"] is None
    exported = export_text(service)
    assert exported.splitlines()[0] == ",".join(COLUMNS)
    # Prefixes of one point share a line only if they carry the same kinds.
    assert [line for line in exported.splitlines() if line.startswith("A200")] == [
        "A200,Two,broadband,0x1,5,300,10.5.0.0/24,false,,,mpls qinq",
        "A200,Two,broadband,0x1,5,300,10.6.0.0/24,false,,,pppoe qinq",
        "A200,Two,broadband,0x1,6,,,false,,,",
    ]
    before = db_state(db_engine)
    again = import_text(service, exported)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert db_state(db_engine) == before


def test_a_file_without_the_column_imports_and_means_none(
    db_engine: sa.Engine, service: PolicyService
) -> None:
    old = OLD_HEADER + "\nA300,Three,broadband,0x1,7,,10.7.0.0/24,false,,\n"
    records, problems = read_records(io.StringIO(old))
    assert problems == [] and records[0].carries == ""
    assert import_text(service, old).added == 1
    assert stored_carries(db_engine)["1:7:*:10.7.0.0/24"] is None
    # The same file again, still without the column: no change.
    assert import_text(service, old).unchanged == 1


def test_changed_carries_is_an_update_in_place(db_engine: sa.Engine,
                                               service: PolicyService) -> None:
    import_text(service, FULL)
    ids = {a.match_key: a.id for a in service.show_subscriber("A200").attachments}
    changed = FULL.replace(",,,qinq mpls", ",,,mpls").replace(",,,\n", ",,,qinq\n")
    dry = import_text(service, changed, dry_run=True)
    assert (dry.updated, dry.attachments_added, dry.attachments_removed) == (1, 0, 0)
    result = import_text(service, changed)
    assert (result.updated, result.unchanged) == (1, 0)
    view = service.show_subscriber("A200")
    assert {a.match_key: a.id for a in view.attachments} == ids  # kept: same entries, counters
    assert {a.match_key: a.carries for a in view.attachments} == {
        "1:5:300:10.5.0.0/24": ("mpls",),
        "1:5:300:10.6.0.0/24": ("pppoe", "qinq"),
        "1:6:*:*": ("qinq",),
    }
    (entry, *_rest) = [e for e in service.audit_log(account="A200") if e.action == "import-update"]
    assert entry.before is not None and entry.after is not None
    assert "1:5:300:10.5.0.0/24+carries=mpls,qinq" in entry.before["attachments"]
    assert "1:5:300:10.5.0.0/24+carries=mpls" in entry.after["attachments"]
    assert "1:6:*:*+carries=qinq" in entry.after["attachments"]
    # An old-format file clears them (it says the account carries nothing): an update.
    old = "\n".join([OLD_HEADER, "A200,Two,broadband,0x1,5,300,10.5.0.0/24 10.6.0.0/24,false,,",
                     "A200,Two,broadband,0x1,6,,,false,,"]) + "\n"
    assert import_text(service, old).updated == 1
    assert set(stored_carries(db_engine).values()) == {None}


def test_bad_carries_cells_are_reported_with_every_other_bad_line(
    db_engine: sa.Engine, service: PolicyService
) -> None:
    before = db_state(db_engine)
    records = [
        SubscriberRecord("B1", type="broadband", dpid="1", port="5", carries="mpls,vxlan",
                         line=2),
        SubscriberRecord("B2", type="dialup", carries="qinq", line=3),
        SubscriberRecord("B3", type="broadband", dpid="1", port="1", carries="MPLS", line=4),
    ]
    with pytest.raises(ImportRejected) as caught:
        service.import_subscribers(records)
    assert [(p.line, p.field, p.value, p.reason) for p in caught.value.problems] == [
        (2, "carries", "vxlan", "not an encapsulation op25b knows (known: mpls, pppoe, qinq)"),
        (3, "carries", "qinq", "needs a dpid and port"),
        (4, "carries", "MPLS", "not an encapsulation op25b knows (known: mpls, pppoe, qinq)"),
    ]
    assert db_state(db_engine) == before
