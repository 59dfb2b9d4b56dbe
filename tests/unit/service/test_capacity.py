"""A write that would overflow a switch's flow table is refused in its own transaction."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from op25b_app.service import AttachmentSpec, Conflict, PolicyService, SubscriberRecord
from op25b_app.service import ValidationError
from tests.unit.service.test_service import db_state

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _entries(service: PolicyService, dpid: int = 1) -> int:
    """The switch's weighted entry count as the preview renders it (IPv6 weighs 2)."""
    return sum(2 if spec.is_ipv6 else 1 for spec in service.policy_preview(dpid).entries)


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    svc = PolicyService(db_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1", uplinks=[1])
    svc.add_switch(2, "edge2", uplinks=[1])
    svc.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3, None, ("10.1.0.0/24",))])
    return svc


def _refused(service: PolicyService, engine: sa.Engine, write: object, *args: object,
             **kwargs: object) -> str:
    before = db_state(engine)
    with pytest.raises(Conflict) as caught:
        write(*args, **kwargs)  # type: ignore[operator]
    assert db_state(engine) == before  # nothing written, the revision unchanged
    return str(caught.value)


def test_subscriber_add_over_capacity_names_switch_count_and_capacity(
        service: PolicyService, db_engine: sa.Engine) -> None:
    capacity = _entries(service)
    service.set_switch(1, capacity=capacity)
    message = _refused(service, db_engine, service.add_subscriber, "A2", "", "broadband",
                       [AttachmentSpec(1, 4, None, ("10.2.0.0/24",))])
    assert (f"switch 'edge1' (dpid 0x1) would hold {capacity + 1:,} entries; "
            f"its capacity is {capacity:,}") in message
    # Another switch without a capacity is not limited, nor checked.
    service.add_subscriber("A3", "", "broadband", [AttachmentSpec(2, 4, None, ())])
    service.set_switch(1, capacity=capacity + 1)
    service.add_subscriber("A2", "", "broadband", [AttachmentSpec(1, 4, None, ("10.2.0.0/24",))])


def test_capacity_below_what_the_switch_holds_is_refused(
        service: PolicyService, db_engine: sa.Engine) -> None:
    message = _refused(service, db_engine, service.set_switch, 1, capacity=_entries(service) - 1)
    assert "its capacity is" in message
    assert service.set_switch(1, capacity=None).capacity is None
    with pytest.raises(ValidationError):
        service.set_switch(1, capacity=0)


def test_compact_switch_counts_exemptions_type_changes_and_mtas(
        service: PolicyService, db_engine: sa.Engine) -> None:
    service.set_switch(1, compact=True)
    service.add_subscriber("A2", "", "broadband", [AttachmentSpec(1, 3, None, ("10.2.0.0/24",))])
    held = _entries(service)
    service.set_switch(1, capacity=held)  # blocked subscribers on port 3 cost nothing more
    service.add_subscriber("A4", "", "broadband", [AttachmentSpec(1, 3, None, ("10.4.0.0/24",))])
    assert _entries(service) == held
    assert "would hold" in _refused(service, db_engine, service.exempt_subscriber, "A1", "test")
    assert "would hold" in _refused(service, db_engine, service.update_subscriber, "A2",
                                    type_name="dialup")
    assert "would hold" in _refused(service, db_engine, service.add_mta, "relay", "192.0.2.0/28")
    service.set_switch(1, capacity=held + 1)
    service.exempt_subscriber("A1", "test")


def test_import_over_capacity_is_refused_whole(
        service: PolicyService, db_engine: sa.Engine) -> None:
    service.set_switch(1, capacity=_entries(service) + 1)
    records = [SubscriberRecord(f"B{i}", type="broadband", dpid="1", port=str(10 + i),
                                prefixes=f"10.9.{i}.0/24", line=i + 2) for i in range(2)]
    assert "edge1" in _refused(service, db_engine, service.import_subscribers, records)
    service.import_subscribers(records[:1])
