"""The one validation and write layer for the policy tables.

The CLI uses it today; a REST API and CSV import will use it tomorrow. Every
public method of ``PolicyService`` is one database transaction: it validates
everything first, holds the policy write lock from its first check to its
commit (so two writers cannot both pass an overlap check), and rolls back on
any error, so nothing is ever half-written. Results are frozen dataclasses
whose ``to_dict()`` is ready for ``json.dumps``.

Errors say exactly which input was wrong, because an operator adding ten
thousand subscribers from a CSV file needs to find the bad cell:

* ``ValidationError(field, value, reason)`` - the input itself is malformed
  or refers to something that does not exist.
* ``NotFound`` - the object the operation is about does not exist.
* ``Conflict`` - the input is well-formed but clashes with what is stored
  (duplicate account, duplicate attachment, MTA/attachment overlap, ...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from op25b_app.db.engine import read_session, write_session
from op25b_app.db.models import (
    MAX_DPID,
    MAX_PORT,
    MAX_VLAN,
    MIN_PORT,
    MIN_VLAN,
    Attachment,
    ConnectionType,
    Mta,
    Subscriber,
    Switch,
    SwitchUplink,
    make_match_key,
    utc_now,
)
from op25b_app.snapshot import ROLE_EDGE, ROLES

log = logging.getLogger(__name__)

#: IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) never appear as IPv6 sources on
#: the wire; a subscriber or MTA written that way is an operator mistake.
_IPV4_MAPPED = netaddr.IPNetwork("::ffff:0:0/96")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
_TYPE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


# --------------------------------------------------------------------------- errors


class ServiceError(Exception):
    """Base of every error the service raises on purpose (bad input, not bugs)."""


class ValidationError(ServiceError, ValueError):
    """One input field is malformed or refers to nothing."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(field, value, reason)

    def __str__(self) -> str:
        return f"field '{self.field}' value '{self.value}': {self.reason}"


class NotFound(ServiceError, LookupError):
    """The object an operation is about does not exist."""

    def __init__(self, kind: str, field: str, value: object) -> None:
        self.kind = kind
        self.field = field
        self.value = value
        super().__init__(kind, field, value)

    def __str__(self) -> str:
        return f"{self.kind} with {self.field} '{self.value}' not found"


class Conflict(ServiceError):
    """Well-formed input that clashes with what is already stored."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(field, value, reason)

    def __str__(self) -> str:
        return f"field '{self.field}' value '{self.value}': {self.reason}"


# --------------------------------------------------------------------------- views


def to_jsonable(value: Any) -> Any:
    """Turn views (and what they contain) into JSON-ready builtins."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


class _View:
    """Mixin: ``to_dict()`` for JSON output."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_jsonable(self)
        return result


@dataclasses.dataclass(frozen=True, slots=True)
class SwitchView(_View):
    id: int
    dpid: int
    dpid_hex: str
    name: str
    role: str
    uplinks: tuple[int, ...]
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionTypeView(_View):
    id: int
    name: str
    blocked: bool
    description: str


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentView(_View):
    id: int
    dpid: int
    switch: str
    port: int
    vlan: int | None
    prefix: str | None
    match_key: str


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberView(_View):
    id: int
    account: str
    name: str
    type: str
    type_blocked: bool
    exempt: bool
    exempt_reason: str | None
    exempt_until: dt.datetime | None
    #: Whether TCP/25 is blocked right now (type blocked and no active opt-out).
    blocked_now: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    attachments: tuple[AttachmentView, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class MtaView(_View):
    id: int
    name: str
    prefix: str


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """Where to attach a subscriber, as given by the caller (not yet validated).

    One attachment row is created per prefix; no prefixes means one row
    matching any source on that port/VLAN.
    """

    dpid: int | str
    port: int | str
    vlan: int | str | None = None
    prefixes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- parsing


def _parse_int(field: str, value: int | str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(field, value, f"not {what}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValidationError(field, value, f"not {what}") from None
    if not low <= number <= high:
        raise ValidationError(field, value, f"out of range {low}..{high}")
    return number


def parse_dpid(value: int | str, field: str = "dpid") -> int:
    """A datapath id: decimal or 0x-hex, 0..2**64-1."""
    return _parse_int(field, value, 0, MAX_DPID, "a datapath id (decimal or 0x-hex)")


def parse_port(value: int | str, field: str = "port") -> int:
    """An OpenFlow port number, 1..OFPP_MAX (0xffffff00)."""
    return _parse_int(field, value, MIN_PORT, MAX_PORT, "a port number")


def parse_vlan(value: int | str | None, field: str = "vlan") -> int | None:
    """A VLAN id 0..4095, or None for untagged-or-any."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "*")):
        return None
    return _parse_int(field, value, MIN_VLAN, MAX_VLAN, "a VLAN id")


def parse_prefix(value: str, field: str = "prefix") -> netaddr.IPNetwork:
    """A source/destination prefix, normalised to its network (host bits cleared).

    Host bits are accepted and cleared because operators routinely paste an
    address with its subnet length ("10.1.0.5/24"); garbage and IPv4-mapped
    IPv6 (which never appears as a source on the wire) are rejected.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix")
    try:
        network = netaddr.IPNetwork(value.strip()).cidr
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix") from None
    if network.version == 6 and network in _IPV4_MAPPED:
        raise ValidationError(
            field, value, "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"
        )
    return network


def parse_attach_point(value: str, field: str = "attach") -> tuple[int, int, int | None]:
    """``DPID:PORT[:VLAN]`` (dpid decimal or 0x-hex) -> (dpid, port, vlan)."""
    parts = value.strip().split(":") if isinstance(value, str) else []
    if len(parts) not in (2, 3):
        raise ValidationError(field, value, "expected DPID:PORT or DPID:PORT:VLAN")
    dpid = parse_dpid(parts[0], "dpid")
    port = parse_port(parts[1], "port")
    vlan = parse_vlan(parts[2], "vlan") if len(parts) == 3 else None
    return dpid, port, vlan


def parse_time(value: str | dt.datetime, field: str = "until") -> dt.datetime:
    """An ISO 8601 time with an explicit offset ('Z' or +09:00), returned in UTC.

    Naive times are rejected: whether '2026-12-31T00:00' means JST or UTC
    decides when a customer's mail starts bouncing.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                field, value, "not an ISO 8601 time (e.g. 2026-12-31T00:00+09:00)"
            ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(field, value, "needs an explicit UTC offset, e.g. +09:00 or Z")
    return parsed.astimezone(dt.UTC)


def _check_text(field: str, value: str, max_len: int, pattern: re.Pattern[str] | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "must not be empty")
    if value != value.strip():
        raise ValidationError(field, value, "must not start or end with whitespace")
    if len(value) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValidationError(field, value, "contains control characters")
    if pattern is not None and not pattern.match(value):
        raise ValidationError(field, value, f"must match {pattern.pattern}")
    return value


def _check_free_text(field: str, value: str | None, max_len: int) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise ValidationError(field, value, "must be text")
    if len(text) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValidationError(field, value, "contains control characters")
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class _PlannedAttachment:
    """A validated attachment row about to be inserted."""

    switch: Switch
    port: int
    vlan: int | None
    prefix: netaddr.IPNetwork | None
    match_key: str


# --------------------------------------------------------------------------- service


class PolicyService:
    """Validated reads and writes of the policy tables; one transaction per call."""

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # -- plumbing

    def _write(self) -> contextlib.AbstractContextManager[Session]:
        return _write_transaction(self._engine)

    def _read(self) -> contextlib.AbstractContextManager[Session]:
        return read_session(self._engine)

    # -- switches

    def add_switch(
        self,
        dpid: int | str,
        name: str,
        uplinks: Iterable[int | str] = (),
        role: str = ROLE_EDGE,
    ) -> SwitchView:
        """Register a switch; ``uplinks`` are its core-facing ports."""
        dpid_value = parse_dpid(dpid)
        _check_text("name", name, 64, _NAME_RE)
        if role not in ROLES:
            raise ValidationError("role", role, f"must be one of {', '.join(ROLES)}")
        ports: list[int] = []
        for raw in uplinks:
            port = parse_port(raw, "uplink")
            if port in ports:
                raise ValidationError("uplink", raw, "listed twice")
            ports.append(port)
        with self._write() as session:
            existing = session.scalar(sa.select(Switch).where(Switch.dpid == dpid_value))
            if existing is not None:
                raise Conflict("dpid", dpid, f"already registered as switch '{existing.name}'")
            if session.scalar(sa.select(Switch.id).where(Switch.name == name)) is not None:
                raise Conflict("name", name, "a switch with this name already exists")
            switch = Switch(dpid=dpid_value, name=name, role=role, created_at=self._clock())
            switch.uplinks = [SwitchUplink(port=p) for p in sorted(ports)]
            session.add(switch)
            session.flush()
            view = _switch_view(switch)
        log.info("switch %s (dpid %#x, %s) added, uplinks %s", name, dpid_value, role, ports)
        return view

    def list_switches(self) -> list[SwitchView]:
        """All switches, by dpid."""
        with self._read() as session:
            rows = session.scalars(sa.select(Switch).options(selectinload(Switch.uplinks)))
            return sorted((_switch_view(s) for s in rows), key=lambda v: v.dpid)

    def remove_switch(self, dpid: int | str) -> SwitchView:
        """Forget a switch; refused while subscribers are attached to it."""
        dpid_value = parse_dpid(dpid)
        with self._write() as session:
            switch = session.scalar(
                sa.select(Switch)
                .options(selectinload(Switch.uplinks))
                .where(Switch.dpid == dpid_value)
            )
            if switch is None:
                raise NotFound("switch", "dpid", dpid)
            count = session.scalar(
                sa.select(sa.func.count()).where(Attachment.switch_id == switch.id)
            )
            if count:
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
            view = _switch_view(switch)
            session.delete(switch)
        log.info("switch %s (dpid %#x) removed", view.name, dpid_value)
        return view

    # -- connection types

    def add_connection_type(
        self, name: str, blocked: bool, description: str = ""
    ) -> ConnectionTypeView:
        """Define a connection type; ``blocked`` says whether OP25B applies."""
        _check_text("name", name, 32, _TYPE_NAME_RE)
        if not isinstance(blocked, bool):
            raise ValidationError("blocked", blocked, "must be true or false")
        description = _check_free_text("description", description, 1000)
        with self._write() as session:
            if session.scalar(sa.select(ConnectionType.id).where(ConnectionType.name == name)):
                raise Conflict("name", name, "a connection type with this name already exists")
            ctype = ConnectionType(name=name, blocked=blocked, description=description)
            session.add(ctype)
            session.flush()
            view = _type_view(ctype)
        log.info("connection type %s added (blocked=%s)", name, blocked)
        return view

    def list_connection_types(self) -> list[ConnectionTypeView]:
        """All connection types, by name."""
        with self._read() as session:
            rows = session.scalars(sa.select(ConnectionType).order_by(ConnectionType.name))
            return [_type_view(t) for t in rows]

    # -- subscribers

    def add_subscriber(
        self,
        account: str,
        name: str,
        type_name: str,
        attachments: Sequence[AttachmentSpec] = (),
    ) -> SubscriberView:
        """Create a subscriber with its attachments, all or nothing."""
        _check_text("account", account, 64, None)
        name = _check_free_text("name", name, 200)
        with self._write() as session:
            ctype = _type_by_name(session, type_name)
            if session.scalar(sa.select(Subscriber.id).where(Subscriber.account == account)):
                raise Conflict("account", account, "a subscriber with this account already exists")
            planned = _plan_attachments(session, attachments)
            now = self._clock()
            subscriber = Subscriber(
                account=account,
                name=name,
                connection_type=ctype,
                exempt=False,
                created_at=now,
                updated_at=now,
            )
            subscriber.attachments = [_attachment_row(p) for p in planned]
            session.add(subscriber)
            session.flush()
            view = _subscriber_view(subscriber, now)
        log.info(
            "subscriber %s added (type %s, %d attachment(s))", account, type_name, len(planned)
        )
        return view

    def add_attachments(
        self, account: str, attachments: Sequence[AttachmentSpec]
    ) -> SubscriberView:
        """Attach an existing subscriber at more places (new ports or prefixes)."""
        if not attachments:
            raise ValidationError("attach", "", "give at least one attachment")
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            planned = _plan_attachments(session, attachments)
            subscriber.attachments.extend(_attachment_row(p) for p in planned)
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
        log.info("subscriber %s: %d attachment(s) added", account, len(planned))
        return view

    def remove_attachment(self, account: str, attachment_id: int | str) -> SubscriberView:
        """Detach one attachment (by id, as shown by ``show_subscriber``)."""
        ident = _parse_int("id", attachment_id, 1, 2**63 - 1, "an attachment id")
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            match = [a for a in subscriber.attachments if a.id == ident]
            if not match:
                raise NotFound(f"attachment of account '{account}'", "id", attachment_id)
            subscriber.attachments.remove(match[0])
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
        log.info("subscriber %s: attachment %s (%s) removed", account, ident, match[0].match_key)
        return view

    def list_subscribers(self) -> list[SubscriberView]:
        """All subscribers with their attachments, by account."""
        now = self._clock()
        with self._read() as session:
            rows = session.scalars(
                sa.select(Subscriber)
                .options(
                    selectinload(Subscriber.connection_type),
                    selectinload(Subscriber.attachments).selectinload(Attachment.switch),
                )
                .order_by(Subscriber.account)
            )
            return [_subscriber_view(s, now) for s in rows]

    def show_subscriber(self, account: str) -> SubscriberView:
        """One subscriber with attachments, exemption and whether TCP/25 is blocked now."""
        with self._read() as session:
            return _subscriber_view(_subscriber_by_account(session, account), self._clock())

    def set_subscriber_type(self, account: str, type_name: str) -> SubscriberView:
        """Move a subscriber to another connection type (e.g. dial-up to broadband)."""
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            ctype = _type_by_name(session, type_name)
            subscriber.connection_type = ctype
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
        log.info("subscriber %s: type set to %s", account, type_name)
        return view

    def exempt_subscriber(
        self, account: str, reason: str, until: dt.datetime | str | None = None
    ) -> SubscriberView:
        """Opt a subscriber out of blocking (e.g. runs its own MTA), optionally until a time."""
        reason = _check_text("reason", reason, 500, None)
        until_utc = None if until is None else parse_time(until, "until")
        now = self._clock()
        if until_utc is not None and until_utc <= now:
            raise ValidationError("until", until, "is not in the future")
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            subscriber.exempt = True
            subscriber.exempt_reason = reason
            subscriber.exempt_until = until_utc
            subscriber.updated_at = now
            session.flush()
            view = _subscriber_view(subscriber, now)
        log.info("subscriber %s exempted until %s: %s", account, until_utc or "forever", reason)
        return view

    def unexempt_subscriber(self, account: str) -> SubscriberView:
        """End a subscriber's opt-out now."""
        now = self._clock()
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            subscriber.exempt = False
            subscriber.exempt_reason = None
            subscriber.exempt_until = None
            subscriber.updated_at = now
            session.flush()
            view = _subscriber_view(subscriber, now)
        log.info("subscriber %s: exemption removed", account)
        return view

    def remove_subscriber(self, account: str) -> SubscriberView:
        """Delete a subscriber and (by cascade) its attachments."""
        now = self._clock()
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            view = _subscriber_view(subscriber, now)
            session.delete(subscriber)
        log.info("subscriber %s removed", account)
        return view

    # -- MTAs

    def add_mta(self, name: str, prefix: str) -> MtaView:
        """Register one of the ISP's relays; TCP/25 to it passes for everyone.

        Refused when the prefix overlaps a subscriber attachment: a
        subscriber's own address range must never be treated as an ISP relay
        (and vice versa), or blocking silently stops applying to it.
        """
        _check_text("name", name, 64, _NAME_RE)
        network = parse_prefix(prefix)
        if network.prefixlen == 0:
            raise ValidationError("prefix", prefix, "a /0 MTA would let TCP/25 go anywhere")
        canonical = str(network)
        with self._write() as session:
            if session.scalar(sa.select(Mta.id).where(Mta.name == name)):
                raise Conflict("name", name, "an MTA with this name already exists")
            for other_name, other_prefix in session.execute(sa.select(Mta.name, Mta.prefix)):
                if other_prefix == canonical:
                    raise Conflict("prefix", prefix, f"already registered as MTA '{other_name}'")
            clash = _attachment_overlapping(session, network)
            if clash is not None:
                raise Conflict(
                    "prefix",
                    prefix,
                    f"overlaps attachment prefix {clash[1]} of account '{clash[0]}'",
                )
            mta = Mta(name=name, prefix=canonical)
            session.add(mta)
            session.flush()
            view = MtaView(id=mta.id, name=mta.name, prefix=mta.prefix)
        log.info("MTA %s (%s) added", name, canonical)
        return view

    def list_mtas(self) -> list[MtaView]:
        """All MTAs, by name."""
        with self._read() as session:
            rows = session.scalars(sa.select(Mta).order_by(Mta.name))
            return [MtaView(id=m.id, name=m.name, prefix=m.prefix) for m in rows]

    def remove_mta(self, name: str) -> MtaView:
        """Forget an MTA; mail to it is blocked from broadband again."""
        with self._write() as session:
            mta = session.scalar(sa.select(Mta).where(Mta.name == name))
            if mta is None:
                raise NotFound("MTA", "name", name)
            view = MtaView(id=mta.id, name=mta.name, prefix=mta.prefix)
            session.delete(mta)
        log.info("MTA %s removed", name)
        return view


# --------------------------------------------------------------------------- internals


@contextlib.contextmanager
def _write_transaction(engine: Engine) -> Iterator[Session]:
    """``write_session`` that turns a constraint violation into ``Conflict``.

    The checks in this module run under the write lock, so this only fires
    when the database enforces a rule we forgot to check; even then the
    operator must get one line, not a traceback.
    """
    try:
        with write_session(engine) as session:
            yield session
    except IntegrityError as error:
        raise Conflict("database", "", f"constraint violated: {error.orig}") from error


def _type_by_name(session: Session, type_name: str) -> ConnectionType:
    ctype = session.scalar(sa.select(ConnectionType).where(ConnectionType.name == type_name))
    if ctype is None:
        known = ", ".join(
            session.scalars(sa.select(ConnectionType.name).order_by(ConnectionType.name))
        )
        raise ValidationError("type", type_name, f"no such connection type (known: {known})")
    return ctype


def _subscriber_by_account(session: Session, account: str) -> Subscriber:
    subscriber = session.scalar(
        sa.select(Subscriber)
        .options(
            selectinload(Subscriber.connection_type),
            selectinload(Subscriber.attachments).selectinload(Attachment.switch),
        )
        .where(Subscriber.account == account)
    )
    if subscriber is None:
        raise NotFound("subscriber", "account", account)
    return subscriber


def _plan_attachments(
    session: Session, specs: Sequence[AttachmentSpec]
) -> list[_PlannedAttachment]:
    """Validate attachment specs against the stored switches, attachments and MTAs."""
    planned: list[_PlannedAttachment] = []
    seen: set[str] = set()
    switches: dict[int, Switch] = {}
    mtas: list[tuple[str, netaddr.IPNetwork]] | None = None
    for spec in specs:
        dpid = parse_dpid(spec.dpid)
        port = parse_port(spec.port)
        vlan = parse_vlan(spec.vlan)
        switch = switches.get(dpid)
        if switch is None:
            switch = session.scalar(
                sa.select(Switch).options(selectinload(Switch.uplinks)).where(Switch.dpid == dpid)
            )
            if switch is None:
                raise ValidationError("dpid", spec.dpid, "no switch with this dpid is registered")
            switches[dpid] = switch
        if switch.role != ROLE_EDGE:
            raise ValidationError(
                "dpid",
                spec.dpid,
                f"switch '{switch.name}' has role {switch.role}; "
                "subscribers attach to edge switches",
            )
        if port in {u.port for u in switch.uplinks}:
            raise ValidationError(
                "port", spec.port, f"is an uplink of switch '{switch.name}', not a subscriber port"
            )
        prefixes: list[netaddr.IPNetwork | None] = [parse_prefix(p) for p in spec.prefixes]
        if not prefixes:
            prefixes = [None]
        for network in prefixes:
            prefix_text = None if network is None else str(network)
            key = make_match_key(dpid, port, vlan, prefix_text)
            if key in seen:
                raise ValidationError(
                    "prefix" if network is not None else "attach", key, "listed twice"
                )
            seen.add(key)
            owner = session.scalar(
                sa.select(Subscriber.account)
                .join(Attachment, Attachment.subscriber_id == Subscriber.id)
                .where(Attachment.match_key == key)
            )
            if owner is not None:
                raise Conflict(
                    "attach", key, f"an identical attachment already belongs to account '{owner}'"
                )
            if network is not None:
                if mtas is None:
                    mtas = [
                        (n, netaddr.IPNetwork(p))
                        for n, p in session.execute(sa.select(Mta.name, Mta.prefix))
                    ]
                for mta_name, mta_net in mtas:
                    if _overlaps(network, mta_net):
                        raise Conflict(
                            "prefix", prefix_text, f"overlaps MTA '{mta_name}' ({mta_net})"
                        )
            planned.append(_PlannedAttachment(switch, port, vlan, network, key))
    return planned


def _overlaps(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return bool(a.version == b.version and a.first <= b.last and b.first <= a.last)


def _attachment_overlapping(session: Session, network: netaddr.IPNetwork) -> tuple[str, str] | None:
    """The (account, prefix) of some attachment overlapping ``network``, if any.

    A linear scan: adding an MTA is rare, and portable SQL has no prefix type.
    """
    want_v6 = network.version == 6
    rows = session.execute(
        sa.select(Subscriber.account, Attachment.prefix)
        .join(Attachment, Attachment.subscriber_id == Subscriber.id)
        .where(Attachment.prefix.is_not(None))
    )
    for account, prefix in rows:
        if prefix is None or (":" in prefix) != want_v6:
            continue
        try:
            other = netaddr.IPNetwork(prefix)
        except (netaddr.AddrFormatError, ValueError):
            continue  # malformed rows are the snapshot loader's to report
        if _overlaps(network, other):
            return account, prefix
    return None


def _attachment_row(planned: _PlannedAttachment) -> Attachment:
    return Attachment(
        switch=planned.switch,
        port=planned.port,
        vlan=planned.vlan,
        prefix=None if planned.prefix is None else str(planned.prefix),
        match_key=planned.match_key,
    )


def _switch_view(switch: Switch) -> SwitchView:
    return SwitchView(
        id=switch.id,
        dpid=switch.dpid,
        dpid_hex=f"{switch.dpid:016x}",
        name=switch.name,
        role=switch.role,
        uplinks=tuple(sorted(u.port for u in switch.uplinks)),
        created_at=switch.created_at,
    )


def _type_view(ctype: ConnectionType) -> ConnectionTypeView:
    return ConnectionTypeView(
        id=ctype.id, name=ctype.name, blocked=ctype.blocked, description=ctype.description
    )


def _subscriber_view(subscriber: Subscriber, now: dt.datetime) -> SubscriberView:
    ctype = subscriber.connection_type
    exempt_active = subscriber.exempt and (
        subscriber.exempt_until is None or now < subscriber.exempt_until
    )
    return SubscriberView(
        id=subscriber.id,
        account=subscriber.account,
        name=subscriber.name,
        type=ctype.name,
        type_blocked=ctype.blocked,
        exempt=subscriber.exempt,
        exempt_reason=subscriber.exempt_reason,
        exempt_until=subscriber.exempt_until,
        blocked_now=ctype.blocked and not exempt_active,
        created_at=subscriber.created_at,
        updated_at=subscriber.updated_at,
        attachments=tuple(_attachment_view(a) for a in _sorted_attachments(subscriber)),
    )


def _sorted_attachments(subscriber: Subscriber) -> Iterator[Attachment]:
    return iter(sorted(subscriber.attachments, key=lambda a: a.id))


def _attachment_view(attachment: Attachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        dpid=attachment.switch.dpid,
        switch=attachment.switch.name,
        port=attachment.port,
        vlan=attachment.vlan,
        prefix=attachment.prefix,
        match_key=attachment.match_key,
    )
