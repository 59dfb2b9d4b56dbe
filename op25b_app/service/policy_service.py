"""The one validation and write layer for the policy tables.

The CLI uses it today; a REST API and CSV import will use it tomorrow. Every
public method of ``PolicyService`` is one database transaction: it validates
everything first, holds the policy write lock from its first check to its
commit (so two writers cannot both pass an overlap check), and rolls back on
any error, so nothing is ever half-written. Results are frozen dataclasses
whose ``to_dict()`` is ready for ``json.dumps``.

Every write also records who made it, when, and the before/after state in
the audit trail (``op25b_app.service.audit``) inside the same transaction, so the
trail cannot disagree with the data. ``actor`` names the writer: the OS user
for the CLI, ``token:NAME`` for the REST API.

Times are stored in UTC. A time given without a UTC offset is read in the
service's configured zone (``tz``, e.g. Asia/Tokyo for an ISP in Japan) and is
an error when no zone is configured: whether '2026-12-31T00:00' means JST or
UTC decides when a customer's mail starts bouncing.

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
import zoneinfo
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import netaddr
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from op25b_app.service.errors import Conflict, NotFound, ServiceError, ValidationError
from op25b_app.service.inputs import (
    _CONTROL_RE,
    _NAME_RE,
    _TYPE_NAME_RE,
    _check_free_text,
    _check_text,
    _parse_int,
    parse_attach_point,
    parse_dpid,
    parse_port,
    parse_prefix,
    parse_prefix_text,
    parse_since,
    parse_span,
    parse_time,
    parse_vlan,
    parse_zone,
)
from op25b_app.service.queries import QueryOps
from op25b_app.service.audit import AuditEntryView, AuditRecorder, default_actor, read_audit
from op25b_app.core.constants import MODE_ENFORCE, MODES
from op25b_app.db.engine import read_session, write_session
from op25b_app.db.models import (
    Attachment,
    ConnectionType,
    GlobalEnforcement,
    Mta,
    Subscriber,
    Switch,
    SwitchUplink,
    make_match_key,
    utc_now,
)
from op25b_app.core.gc_pause import gc_paused
from op25b_app.core.snapshot import ROLE_EDGE, ROLES

if TYPE_CHECKING:
    from op25b_app.service.bulk_import import (
        ImportProblem,
        ImportProgress,
        ImportResult,
        SubscriberRecord,
    )

log = logging.getLogger(__name__)

#: Where a write transaction's ``AuditRecorder`` lives in ``Session.info``.
_RECORDER = "op25b_audit"


# --------------------------------------------------------------------------- views


def to_jsonable(value: Any, tz: dt.tzinfo | None = None) -> Any:
    """Turn views (and what they contain) into JSON-ready builtins.

    Aware times are written as ISO 8601 with their offset, converted to
    ``tz`` when given (the operator's configured zone), else as stored (UTC).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = _fields(value)
    if isinstance(value, dt.datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [to_jsonable(v, tz) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, tz) for k, v in value.items()}
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


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


@dataclasses.dataclass(frozen=True, slots=True)
class _PlannedAttachment:
    """A validated attachment row about to be inserted."""

    switch: Switch
    port: int
    vlan: int | None
    prefix: netaddr.IPNetwork | None
    match_key: str


# --------------------------------------------------------------------------- service


class _Unchanged:
    """Marker for "leave this field as it is" in update_subscriber (None means "clear")."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()


class PolicyService(QueryOps):
    """Validated reads and writes of the policy tables; one transaction per call."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        actor: str | None = None,
        tz: dt.tzinfo | None = None,
    ) -> None:
        """``actor`` is who the audit trail names (default: the OS user);
        ``tz`` is the zone of times given without an offset (default: none,
        such times are refused)."""
        self._engine = engine
        self._clock = clock
        self._actor = actor or default_actor()
        self._tz = tz

    @property
    def actor(self) -> str:
        """Who this service's writes are recorded as."""
        return self._actor

    @property
    def tz(self) -> dt.tzinfo | None:
        """The zone of times given without an offset, if configured."""
        return self._tz

    # -- plumbing

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction whose audit entries are written just before it commits."""
        with _write_transaction(self._engine) as session:
            recorder = AuditRecorder(session, self._actor, self._clock)
            recorder.begin()
            session.info[_RECORDER] = recorder
            yield session
            recorder.finish()

    @staticmethod
    def _audit(session: Session) -> AuditRecorder:
        recorder: AuditRecorder = session.info[_RECORDER]
        return recorder

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
            self._audit(session).record(
                "switch", f"{dpid_value:#x}", "add", None, _switch_state(view)
            )
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
            self._audit(session).record(
                "switch", f"{dpid_value:#x}", "remove", _switch_state(view), None
            )
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
            self._audit(session).record(
                "connection_type",
                name,
                "add",
                None,
                {"name": name, "blocked": blocked, "description": description},
            )
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
        check_account(account)
        name = check_subscriber_name(name)
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
            self._audit(session).record(
                "subscriber", account, "add", None, _subscriber_state(subscriber), account
            )
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
            before = _subscriber_state(subscriber)
            planned = _plan_attachments(session, attachments)
            subscriber.attachments.extend(_attachment_row(p) for p in planned)
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
            self._audit(session).record(
                "subscriber", account, "attach", before, _subscriber_state(subscriber), account
            )
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
            before = _subscriber_state(subscriber)
            subscriber.attachments.remove(match[0])
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
            self._audit(session).record(
                "subscriber", account, "detach", before, _subscriber_state(subscriber), account
            )
        log.info("subscriber %s: attachment %s (%s) removed", account, ident, match[0].match_key)
        return view

    def list_subscribers(self) -> list[SubscriberView]:
        """All subscribers with their attachments, by account."""
        return self.page_subscribers()[0]

    def page_subscribers(
        self,
        *,
        type_name: str | None = None,
        account_prefix: str | None = None,
        dpid: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[SubscriberView], int]:
        """One page of subscribers (by account) matching the filters, and how many match.

        Filters, count and page run in SQL, so a page of an ISP's 100k
        subscribers costs one indexed query and the page's own rows instead
        of reading everyone. The count and the page come from one read
        transaction, so ``total`` agrees with the page.
        """
        # The filters reach SQL as bound parameters; PostgreSQL refuses text
        # with NUL, and no stored name or account holds a control character.
        for field, text in (("type", type_name), ("account_prefix", account_prefix)):
            if text is not None and _CONTROL_RE.search(text):
                raise ValidationError(field, text, "contains control characters")
        conditions: list[sa.ColumnElement[bool]] = []
        if type_name is not None:
            conditions.append(Subscriber.connection_type.has(ConnectionType.name == type_name))
        if account_prefix is not None:
            # autoescape: an account containing % or _ is a literal prefix, not a pattern.
            conditions.append(Subscriber.account.startswith(account_prefix, autoescape=True))
        if dpid is not None:
            on_switch = Attachment.switch.has(Switch.dpid == dpid)
            conditions.append(Subscriber.attachments.any(on_switch))
        now = self._clock()
        with self._read() as session:
            query = (
                sa.select(Subscriber)
                .where(*conditions)
                .options(
                    selectinload(Subscriber.connection_type),
                    selectinload(Subscriber.attachments).selectinload(Attachment.switch),
                )
                .order_by(Subscriber.account)
                .offset(offset)
                .limit(limit)
            )
            views = [_subscriber_view(s, now) for s in session.scalars(query)]
            if limit is None and offset == 0:
                return views, len(views)  # the whole list: no COUNT needed
            total = session.scalar(
                sa.select(sa.func.count()).select_from(Subscriber).where(*conditions)
            ) or 0
            return views, total

    def show_subscriber(self, account: str) -> SubscriberView:
        """One subscriber with attachments, exemption and whether TCP/25 is blocked now."""
        with self._read() as session:
            return _subscriber_view(_subscriber_by_account(session, account), self._clock())

    def set_subscriber_type(self, account: str, type_name: str) -> SubscriberView:
        """Move a subscriber to another connection type (e.g. dial-up to broadband)."""
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            before = _subscriber_state(subscriber)
            ctype = _type_by_name(session, type_name)
            subscriber.connection_type = ctype
            subscriber.updated_at = self._clock()
            session.flush()
            view = _subscriber_view(subscriber, self._clock())
            self._audit(session).record(
                "subscriber", account, "set-type", before, _subscriber_state(subscriber), account
            )
        log.info("subscriber %s: type set to %s", account, type_name)
        return view

    def exempt_subscriber(
        self, account: str, reason: str, until: dt.datetime | str | None = None
    ) -> SubscriberView:
        """Opt a subscriber out of blocking (e.g. runs its own MTA), optionally until a time."""
        reason = check_exempt_reason("reason", reason)
        until_utc = None if until is None else parse_time(until, "until", self._tz)
        now = self._clock()
        if until_utc is not None:
            check_future("until", until, until_utc, now)
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            before = _subscriber_state(subscriber)
            subscriber.exempt = True
            subscriber.exempt_reason = reason
            subscriber.exempt_until = until_utc
            subscriber.updated_at = now
            session.flush()
            view = _subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "exempt", before, _subscriber_state(subscriber), account
            )
        log.info("subscriber %s exempted until %s: %s", account, until_utc or "forever", reason)
        return view

    def unexempt_subscriber(self, account: str) -> SubscriberView:
        """End a subscriber's opt-out now."""
        now = self._clock()
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            before = _subscriber_state(subscriber)
            subscriber.exempt = False
            subscriber.exempt_reason = None
            subscriber.exempt_until = None
            subscriber.updated_at = now
            session.flush()
            view = _subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "unexempt", before, _subscriber_state(subscriber), account
            )
        log.info("subscriber %s: exemption removed", account)
        return view

    def update_subscriber(
        self,
        account: str,
        *,
        name: str | _Unchanged = UNCHANGED,
        type_name: str | _Unchanged = UNCHANGED,
        exemption: tuple[str, dt.datetime | str | None] | None | _Unchanged = UNCHANGED,
    ) -> SubscriberView:
        """Change any of name, connection type and opt-out in one transaction.

        ``exemption`` is ``(reason, until)`` to opt out (``until`` None: no
        expiry), None to end an opt-out now, UNCHANGED to leave it.
        """
        now = self._clock()
        if not isinstance(name, _Unchanged):
            name = check_subscriber_name(name)
        until_utc: dt.datetime | None = None
        reason = ""
        if isinstance(exemption, tuple):
            reason, until = exemption
            reason = check_exempt_reason("reason", reason)
            until_utc = None if until is None else parse_time(until, "until", self.tz)
            if until_utc is not None:
                check_future("until", until, until_utc, now)
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            before = _subscriber_state(subscriber)
            changes: list[str] = []
            if not isinstance(type_name, _Unchanged):
                subscriber.connection_type = _type_by_name(session, type_name)
                changes.append(f"type={type_name}")
            if not isinstance(name, _Unchanged):
                subscriber.name = name
                changes.append("name")
            if exemption is None:
                subscriber.exempt = False
                subscriber.exempt_reason = None
                subscriber.exempt_until = None
                changes.append("exemption removed")
            elif isinstance(exemption, tuple):
                subscriber.exempt = True
                subscriber.exempt_reason = reason
                subscriber.exempt_until = until_utc
                changes.append(f"exempt until {until_utc or 'forever'}")
            subscriber.updated_at = now
            session.flush()
            view = _subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "update", before, _subscriber_state(subscriber), account
            )
        log.info("subscriber %s updated: %s", account, ", ".join(changes) or "nothing")
        return view

    def remove_subscriber(self, account: str) -> SubscriberView:
        """Delete a subscriber and (by cascade) its attachments."""
        now = self._clock()
        with self._write() as session:
            subscriber = _subscriber_by_account(session, account)
            view = _subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "remove", _subscriber_state(subscriber), None, account
            )
            session.delete(subscriber)
        log.info("subscriber %s removed", account)
        return view

    # -- bulk import / export

    def import_subscribers(
        self,
        records: Sequence[SubscriberRecord],
        *,
        dry_run: bool = False,
        source: str = "",
        prior_problems: Sequence[ImportProblem] = (),
        progress: ImportProgress | None = None,
    ) -> ImportResult:
        """Upsert subscribers by account from records (one per attachment point).

        All or nothing: any bad record raises ``ImportRejected`` listing every
        bad line and nothing is written. ``prior_problems`` are lines the
        caller could not even turn into records (say, a CSV line with too
        many fields): they are reported together with the rest and also
        reject the import. ``dry_run`` checks everything and reports what
        would change without writing. See ``op25b_app.service.bulk_import``.
        """
        # Imported here because that module builds on this one's rules.
        from op25b_app.service import bulk_import as bulk

        now = self._clock()
        check_only = dry_run or bool(prior_problems)
        with gc_paused():
            if check_only:
                with self._read() as session:
                    plan = bulk.plan_import(
                        session, records, tz=self._tz, now=now,
                        prior_problems=prior_problems, progress=progress,
                    )
                revision = None
            else:
                with self._write() as session:
                    plan = bulk.plan_import(
                        session, records, tz=self._tz, now=now, progress=progress
                    )
                    recorder = self._audit(session)
                    bulk.apply_import(
                        session, plan, recorder, now=now, source=source, progress=progress
                    )
                revision = recorder.revision_after
        result = bulk.result_of(plan, dry_run=check_only, revision=revision)
        log.info(
            "import%s of %s: %d row(s), %d added, %d updated, %d unchanged",
            " (dry run)" if result.dry_run else "",
            source or "records",
            result.rows,
            result.added,
            result.updated,
            result.unchanged,
        )
        return result

    def export_subscribers(self) -> list[SubscriberRecord]:
        """Every subscriber as import records, by account (times in the configured zone)."""
        from op25b_app.service import bulk_import as bulk

        with gc_paused(), self._read() as session:
            return bulk.export_records(session, self._tz)

    # -- audit trail

    def audit_log(
        self,
        *,
        account: str | None = None,
        since: dt.datetime | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntryView]:
        """Recorded changes, newest first, with unaccounted revision advances as direct SQL.

        ``since`` is a time (offset or configured zone) or a span back from
        now such as ``30m``, ``12h``, ``7d``; ``limit`` 0 or None means all.
        """
        since_utc = None if since is None else parse_since(since, self._clock(), self._tz)
        if limit is not None:
            limit = _parse_int("limit", limit, 0, 2**31 - 1, "a number")
        with self._read() as session:
            return read_audit(session, account=account, since=since_utc, limit=limit or None)

    # -- MTAs

    # -- enforcement (monitor mode and the scheduled start)

    def show_enforcement(self) -> dict[str, Any]:
        """The global mode and start time, and every switch's override."""
        with self._read() as session:
            glob = session.get(GlobalEnforcement, 1)
            switches = session.scalars(sa.select(Switch).order_by(Switch.dpid)).all()
            return {
                "global": {"mode": glob.mode if glob else MODE_ENFORCE,
                           "enforce_at": glob.enforce_at if glob else None},
                "switches": [{"dpid": s.dpid, "name": s.name, "mode": s.mode,
                              "enforce_at": s.enforce_at}
                             for s in switches if s.mode is not None or s.enforce_at is not None],
            }

    def set_enforcement(
        self,
        mode: str | None,
        enforce_at: dt.datetime | str | None = None,
        dpid: int | str | None = None,
        clear_at: bool = False,
    ) -> dict[str, Any]:
        """Set monitor/enforce globally or for one switch, optionally with a start time.

        With a start time the switches monitor until then and enforce from then
        on, switched by the controller itself. For a switch, mode ``inherit``
        removes its override.
        """
        if mode is not None and mode not in (*MODES, "inherit"):
            raise ValidationError("mode", mode, "must be enforce, monitor or inherit")
        if mode == "inherit" and dpid is None:
            raise ValidationError("mode", mode, "only a switch can inherit")
        when = None
        if enforce_at is not None:
            when = parse_time(enforce_at, "at", self._tz)
        with self._write() as session:
            if dpid is None:
                row = session.get(GlobalEnforcement, 1)
                if row is None:
                    row = GlobalEnforcement(id=1, mode=MODE_ENFORCE)
                    session.add(row)
                before = {"mode": row.mode, "enforce_at": row.enforce_at}
                if mode is not None:
                    row.mode = mode
                if when is not None or clear_at:
                    row.enforce_at = when
                after = {"mode": row.mode, "enforce_at": row.enforce_at}
                key = "global"
            else:
                dpid_value = parse_dpid(dpid)
                switch = session.scalar(sa.select(Switch).where(Switch.dpid == dpid_value))
                if switch is None:
                    raise NotFound("switch", "dpid", dpid)
                before = {"mode": switch.mode, "enforce_at": switch.enforce_at}
                if mode is not None:
                    switch.mode = None if mode == "inherit" else mode
                    if mode == "inherit":
                        switch.enforce_at = None
                if when is not None or clear_at:
                    switch.enforce_at = when
                after = {"mode": switch.mode, "enforce_at": switch.enforce_at}
                key = f"{dpid_value:#x}"
            session.flush()
            self._audit(session).record(
                "enforcement", key, "set", to_jsonable(before), to_jsonable(after)
            )
        log.info("enforcement %s set to %s", key, after)
        return self.show_enforcement()

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
            self._audit(session).record(
                "mta", name, "add", None, {"name": name, "prefix": canonical}
            )
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
            self._audit(session).record(
                "mta", name, "remove", {"name": mta.name, "prefix": mta.prefix}, None
            )
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
        raise unknown_type(type_name, session.scalars(sa.select(ConnectionType.name)))
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
    mtas: MtaIndex | None = None
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
                raise unknown_switch("dpid", spec.dpid)
            switches[dpid] = switch
        check_subscriber_port(
            switch.name, switch.role, {u.port for u in switch.uplinks}, spec.dpid, spec.port, port
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
                raise attachment_taken("attach", key, owner)
            if network is not None:
                if mtas is None:
                    mtas = MtaIndex.load(session)
                mtas.check("prefix", prefix_text, network)
            planned.append(_PlannedAttachment(switch, port, vlan, network, key))
    return planned


# ----------------------------------------------------------------- rules shared with import
#
# The CSV import validates 100k rows against preloaded data instead of one
# query per row, but it must apply exactly these rules with these messages;
# both paths call the functions below.


def unknown_type(type_name: str, known: Iterable[str]) -> ValidationError:
    """The error for a connection type that does not exist."""
    return ValidationError(
        "type", type_name, f"no such connection type (known: {', '.join(sorted(known))})"
    )


def unknown_switch(field: str, value: object) -> ValidationError:
    """The error for a dpid no registered switch has."""
    return ValidationError(field, value, "no switch with this dpid is registered")


def check_subscriber_port(
    switch_name: str,
    role: str,
    uplinks: Collection[int],
    dpid_value: object,
    port_value: object,
    port: int,
    *,
    dpid_field: str = "dpid",
    port_field: str = "port",
) -> None:
    """Subscribers attach to customer-facing ports of edge switches only.

    An uplink attachment would put a subscriber rule on traffic from the
    core, and a core switch gets no subscriber entries at all.
    """
    if role != ROLE_EDGE:
        raise ValidationError(
            dpid_field,
            dpid_value,
            f"switch '{switch_name}' has role {role}; subscribers attach to edge switches",
        )
    if port in uplinks:
        raise ValidationError(
            port_field, port_value, f"is an uplink of switch '{switch_name}', not a subscriber port"
        )


def attachment_taken(field: str, value: object, owner: str) -> Conflict:
    """The error for an attachment whose exact match another account already has."""
    return Conflict(field, value, f"an identical attachment already belongs to account '{owner}'")


def check_exempt_reason(field: str, value: str) -> str:
    """An opt-out needs a reason an operator can later read back."""
    return _check_text(field, value, 500, None)


def check_future(field: str, value: object, when: dt.datetime, now: dt.datetime) -> None:
    """An opt-out ending in the past is a typo, not an intent."""
    if when <= now:
        raise ValidationError(field, value, "is not in the future")


def check_account(value: str, field: str = "account") -> str:
    """An account key: non-empty, no surrounding whitespace, at most 64 characters."""
    return _check_text(field, value, 64, None)


def check_subscriber_name(value: str | None, field: str = "name") -> str:
    """A subscriber's display name: free text up to 200 characters (may be empty)."""
    return _check_free_text(field, value, 200)


class MtaIndex:
    """The MTA prefixes, indexed so one overlap check costs a few dict lookups.

    CIDR blocks either nest or are disjoint, so a prefix overlaps an MTA iff
    an MTA block contains it (look up its supernet at each MTA prefix length)
    or it contains an MTA block (bisect the sorted MTA starts). A linear scan
    would cost #MTAs comparisons for each of 100k imported prefixes.
    """

    def __init__(self, mtas: Iterable[tuple[str, str]]) -> None:
        self._blocks: dict[tuple[int, int, int], tuple[str, str]] = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self._starts: dict[int, list[tuple[int, int, str, str]]] = {4: [], 6: []}
        for name, prefix in mtas:
            network = netaddr.IPNetwork(prefix).cidr
            version, first, length = network.version, network.value, network.prefixlen
            self._blocks.setdefault((version, length, first), (name, str(network)))
            self._starts[version].append((first, length, name, str(network)))
        for version in (4, 6):
            self._lengths[version] = sorted({length for _v, length, _f in self._blocks
                                             if _v == version})
            self._starts[version].sort()

    @classmethod
    def load(cls, session: Session) -> MtaIndex:
        """The index of the MTAs stored now."""
        return cls(session.execute(sa.select(Mta.name, Mta.prefix)).all())

    def overlapping(self, network: netaddr.IPNetwork) -> tuple[str, str] | None:
        """(name, prefix) of an MTA overlapping ``network``, if any."""
        version = network.version
        bits = 32 if version == 4 else 128
        first, length = network.value, network.prefixlen
        first &= ~((1 << (bits - length)) - 1)
        for mta_length in self._lengths[version]:
            if mta_length > length:
                break
            block = first & ~((1 << (bits - mta_length)) - 1)
            hit = self._blocks.get((version, mta_length, block))
            if hit is not None:
                return hit
        starts = self._starts[version]
        index = bisect_left(starts, (first, -1))
        if index < len(starts) and starts[index][0] <= first | ((1 << (bits - length)) - 1):
            return starts[index][2], starts[index][3]
        return None

    def check(self, field: str, value: object, network: netaddr.IPNetwork) -> None:
        """Refuse a subscriber prefix overlapping an MTA.

        Traffic to an MTA passes for everyone; a subscriber's own range
        there would silently stop being blocked (and its counters lie).
        """
        hit = self.overlapping(network)
        if hit is not None:
            raise Conflict(field, value, f"overlaps MTA '{hit[0]}' ({hit[1]})")


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


def subscriber_state(
    account: str,
    name: str,
    type_name: str,
    exempt: bool,
    exempt_reason: str | None,
    exempt_until: dt.datetime | None,
    match_keys: Iterable[str],
) -> dict[str, Any]:
    """A subscriber as the audit trail records it (before/after).

    One function for the ORM path and the bulk import path, so the same
    subscriber always produces the same JSON whichever way it was written.
    """
    return {
        "account": account,
        "name": name,
        "type": type_name,
        "exempt": bool(exempt),
        "exempt_reason": exempt_reason,
        "exempt_until": (
            None if exempt_until is None else exempt_until.astimezone(dt.UTC).isoformat()
        ),
        "attachments": sorted(match_keys),
    }


def _subscriber_state(subscriber: Subscriber) -> dict[str, Any]:
    return subscriber_state(
        subscriber.account,
        subscriber.name,
        subscriber.connection_type.name,
        subscriber.exempt,
        subscriber.exempt_reason,
        subscriber.exempt_until,
        (a.match_key for a in subscriber.attachments),
    )


def _switch_state(view: SwitchView) -> dict[str, Any]:
    return {
        "dpid": f"{view.dpid:#x}",
        "name": view.name,
        "role": view.role,
        "uplinks": list(view.uplinks),
    }
