"""Registering and forgetting the switches op25b programs.

A switch's role and uplinks decide where subscribers may attach (see
``rules.check_subscriber_port``), so they are checked here once, at
registration, and a switch cannot be forgotten while subscribers still
attach to it: their entries would silently vanish from the network.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from op25b_app.core.limits import MAX_NAME_CHARS, MAX_SWITCH_CAPACITY
from op25b_app.core.snapshot import ROLE_EDGE, ROLES
from op25b_app.db.models import Attachment, Subscriber, Switch, SwitchUplink
from op25b_app.service.audit_states import switch_state
from op25b_app.service.errors import Conflict, NotFound, ValidationError
from op25b_app.service.inputs import parse_dpid, parse_int, parse_port
from op25b_app.service.subscribers import UNCHANGED, _Unchanged
from op25b_app.service.texts import NAME_RE, check_text
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import SwitchView, switch_view

log = logging.getLogger(__name__)


class SwitchOps(ServiceBase):
    """Mixed into ``PolicyService``: the switch registry."""

    def add_switch(
        self,
        dpid: int | str,
        name: str,
        uplinks: Iterable[int | str] = (),
        role: str = ROLE_EDGE,
        capacity: int | str | None = None,
        compact: bool = False,
    ) -> SwitchView:
        """Register a switch; ``uplinks`` are its core-facing ports.

        ``capacity`` is how many (weighted) entries its flow table holds
        (None: no limit); ``compact`` renders its policy without entries for
        blocked attachments, for switches whose table is small.
        """
        dpid_value = parse_dpid(dpid)
        capacity_value = parse_capacity(capacity)
        check_text("name", name, MAX_NAME_CHARS, NAME_RE)
        if role not in ROLES:
            raise ValidationError("role", role, f"must be one of {', '.join(ROLES)}")
        ports = _uplink_ports(uplinks)
        with self._write() as session:
            existing = session.scalar(sa.select(Switch).where(Switch.dpid == dpid_value))
            if existing is not None:
                raise Conflict("dpid", dpid, f"already registered as switch '{existing.name}'")
            if session.scalar(sa.select(Switch.id).where(Switch.name == name)) is not None:
                raise Conflict("name", name, "a switch with this name already exists")
            switch = Switch(dpid=dpid_value, name=name, role=role, created_at=self._clock(),
                            capacity=capacity_value, compact=_flag("compact", compact))
            switch.uplinks = [SwitchUplink(port=p) for p in sorted(ports)]
            session.add(switch)
            session.flush()
            view = switch_view(switch)
            self._audit(session).record(
                "switch", f"{dpid_value:#x}", "add", None, switch_state(view)
            )
        log.info("switch %s (dpid %#x, %s) added, uplinks %s", name, dpid_value, role, ports)
        return view

    def set_switch(
        self,
        dpid: int | str,
        capacity: int | str | None | _Unchanged = UNCHANGED,
        compact: bool | _Unchanged = UNCHANGED,
    ) -> SwitchView:
        """Change a switch's capacity (None: no limit) or compact rendering.

        Refused when the switch's policy would not fit the new capacity (the
        check every write gets, ``capacity``): the operator learns now, not
        when the controller refuses the switch's next policy.
        """
        dpid_value = parse_dpid(dpid)
        capacity_value = (capacity if isinstance(capacity, _Unchanged)
                          else parse_capacity(capacity))
        compact_value = compact if isinstance(compact, _Unchanged) else _flag("compact", compact)
        with self._write() as session:
            switch = switch_by_dpid(session, dpid_value, dpid)
            before = switch_view(switch)
            if not isinstance(capacity_value, _Unchanged):
                switch.capacity = capacity_value
            if not isinstance(compact_value, _Unchanged):
                switch.compact = compact_value
            session.flush()
            view = switch_view(switch)
            if view != before:
                self._audit(session).record("switch", f"{dpid_value:#x}", "set",
                                            switch_state(before), switch_state(view))
        log.info("switch %s (dpid %#x): capacity %s, compact %s", view.name, dpid_value,
                 view.capacity, view.compact)
        return view

    def list_switches(self) -> list[SwitchView]:
        """All switches, by dpid."""
        with self._read() as session:
            rows = session.scalars(sa.select(Switch).options(selectinload(Switch.uplinks)))
            return sorted((switch_view(s) for s in rows), key=lambda v: v.dpid)

    def remove_switch(self, dpid: int | str) -> SwitchView:
        """Forget a switch; refused while subscribers are attached to it."""
        dpid_value = parse_dpid(dpid)
        with self._write() as session:
            switch = switch_by_dpid(session, dpid_value, dpid)
            _refuse_if_carrying(session, switch, dpid)
            view = switch_view(switch)
            session.delete(switch)
            self._audit(session).record(
                "switch", f"{dpid_value:#x}", "remove", switch_state(view), None
            )
        log.info("switch %s (dpid %#x) removed", view.name, dpid_value)
        return view


def switch_by_dpid(session: Session, dpid_value: int, given: object) -> Switch:
    """The switch with ``dpid_value`` (uplinks loaded); ``NotFound`` names ``given``."""
    switch = session.scalar(
        sa.select(Switch).options(selectinload(Switch.uplinks)).where(Switch.dpid == dpid_value)
    )
    if switch is None:
        raise NotFound("switch", "dpid", given)
    return switch


def parse_capacity(value: int | str | None) -> int | None:
    """A flow-table capacity: 1 or more entries, or None / "none" for no limit."""
    if value is None or value == "none":
        return None
    return parse_int("capacity", value, 1, MAX_SWITCH_CAPACITY,
                     f"a number of entries 1..{MAX_SWITCH_CAPACITY} (or none)")


def _flag(field: str, value: object) -> bool:
    """A true/false setting; anything else (1, "yes") is refused, not guessed."""
    if not isinstance(value, bool):
        raise ValidationError(field, value, "must be true or false")
    return value


def _uplink_ports(uplinks: Iterable[int | str]) -> list[int]:
    """The uplink port numbers, in the order given; a port listed twice is a typo."""
    ports: list[int] = []
    for raw in uplinks:
        port = parse_port(raw, "uplink")
        if port in ports:
            raise ValidationError("uplink", raw, "listed twice")
        ports.append(port)
    return ports


def _refuse_if_carrying(session: Session, switch: Switch, dpid: object) -> None:
    """``Conflict`` while attachments use ``switch``, naming one account to start with."""
    count = session.scalar(sa.select(sa.func.count()).where(Attachment.switch_id == switch.id))
    if not count:
        return
    example = session.scalar(
        sa.select(Subscriber.account)
        .join(Attachment, Attachment.subscriber_id == Subscriber.id)
        .where(Attachment.switch_id == switch.id)
        .order_by(Subscriber.account)
        .limit(1)
    )
    raise Conflict(
        "dpid",
        dpid,
        f"switch '{switch.name}' still carries {count} attachment(s) "
        f"(e.g. account '{example}'); remove them first",
    )
