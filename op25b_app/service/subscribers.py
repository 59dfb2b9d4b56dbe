"""Subscribers one at a time: create, attach, change type or opt-out, look up, remove.

Every change of a subscriber records its whole before/after state (name,
type, opt-out, attachments) in the audit trail, because the question an
abuse desk asks is "why was this customer (not) blocked on that day", and
only the whole state answers it. The bulk path for thousands of subscribers
is ``bulk_import``; both apply the same ``rules``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from op25b_app.db.models import Attachment, ConnectionType, Subscriber, Switch
from op25b_app.service.attachments import AttachmentSpec, check_write_size, plan_attachments
from op25b_app.service.audit_states import subscriber_row_state
from op25b_app.service.connection_types import type_by_name
from op25b_app.service.errors import Conflict, NotFound, ValidationError
from op25b_app.service.inputs import parse_int, parse_time
from op25b_app.service.rules import (
    check_account,
    check_exempt_reason,
    check_future,
    check_subscriber_name,
)
from op25b_app.service.texts import check_lookup, check_no_control
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import SubscriberView, subscriber_view

log = logging.getLogger(__name__)

_Select = TypeVar("_Select", bound=sa.Select[Any])


class _Unchanged:
    """Marker for "leave this field as it is" in update_subscriber (None means "clear")."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()


@dataclasses.dataclass(slots=True)
class _Change:
    """One existing subscriber being changed inside a write transaction."""

    session: Session
    subscriber: Subscriber
    before: dict[str, Any]
    view: SubscriberView | None = None

    def result(self) -> SubscriberView:
        """The subscriber as committed (set when the change block ended without error)."""
        assert self.view is not None, "read the result after the with block"
        return self.view


class SubscriberOps(ServiceBase):
    """Mixed into ``PolicyService``: the subscriber writes and reads."""

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
        check_write_size(attachments)
        with self._write() as session:
            ctype = type_by_name(session, type_name)
            if session.scalar(sa.select(Subscriber.id).where(Subscriber.account == account)):
                raise Conflict("account", account, "a subscriber with this account already exists")
            planned = plan_attachments(session, attachments)
            now = self._clock()
            subscriber = Subscriber(
                account=account,
                name=name,
                connection_type=ctype,
                exempt=False,
                created_at=now,
                updated_at=now,
            )
            subscriber.attachments = [p.row() for p in planned]
            session.add(subscriber)
            session.flush()
            view = subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "add", None, subscriber_row_state(subscriber), account
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
        check_write_size(attachments)
        with self._changing(account, "attach") as change:
            planned = plan_attachments(change.session, attachments,
                                       len(change.subscriber.attachments))
            change.subscriber.attachments.extend(p.row() for p in planned)
        log.info("subscriber %s: %d attachment(s) added", account, len(planned))
        return change.result()

    def remove_attachment(self, account: str, attachment_id: int | str) -> SubscriberView:
        """Detach one attachment (by id, as shown by ``show_subscriber``)."""
        ident = parse_int("id", attachment_id, 1, 2**63 - 1, "an attachment id")
        with self._changing(account, "detach") as change:
            match = [a for a in change.subscriber.attachments if a.id == ident]
            if not match:
                raise NotFound(f"attachment of account '{account}'", "id", attachment_id)
            change.subscriber.attachments.remove(match[0])
        log.info("subscriber %s: attachment %s (%s) removed", account, ident, match[0].match_key)
        return change.result()

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
        conditions = _subscriber_filters(type_name, account_prefix, dpid)
        now = self._clock()
        with self._read() as session:
            query = (
                _with_details(sa.select(Subscriber).where(*conditions))
                .order_by(Subscriber.account)
                .offset(offset)
                .limit(limit)
            )
            views = [subscriber_view(s, now) for s in session.scalars(query)]
            if limit is None and offset == 0:
                return views, len(views)  # the whole list: no COUNT needed
            total = session.scalar(
                sa.select(sa.func.count()).select_from(Subscriber).where(*conditions)
            ) or 0
            return views, total

    def show_subscriber(self, account: str) -> SubscriberView:
        """One subscriber with attachments, exemption and whether TCP/25 is blocked now."""
        with self._read() as session:
            return subscriber_view(subscriber_by_account(session, account), self._clock())

    def set_subscriber_type(self, account: str, type_name: str) -> SubscriberView:
        """Move a subscriber to another connection type (e.g. dial-up to broadband)."""
        with self._changing(account, "set-type") as change:
            change.subscriber.connection_type = type_by_name(change.session, type_name)
        log.info("subscriber %s: type set to %s", account, type_name)
        return change.result()

    def exempt_subscriber(
        self, account: str, reason: str, until: dt.datetime | str | None = None
    ) -> SubscriberView:
        """Opt a subscriber out of blocking (e.g. runs its own MTA), optionally until a time."""
        now = self._clock()
        reason, until_utc = self._exemption(reason, until, now)
        with self._changing(account, "exempt", now) as change:
            _set_exemption(change.subscriber, reason, until_utc)
        log.info("subscriber %s exempted until %s: %s", account, until_utc or "forever", reason)
        return change.result()

    def unexempt_subscriber(self, account: str) -> SubscriberView:
        """End a subscriber's opt-out now."""
        with self._changing(account, "unexempt", self._clock()) as change:
            _set_exemption(change.subscriber, None, None)
        log.info("subscriber %s: exemption removed", account)
        return change.result()

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
        opt_out = self._exemption(*exemption, now) if isinstance(exemption, tuple) else None
        changes: list[str] = []
        with self._changing(account, "update", now) as change:
            subscriber = change.subscriber
            if not isinstance(type_name, _Unchanged):
                subscriber.connection_type = type_by_name(change.session, type_name)
                changes.append(f"type={type_name}")
            if not isinstance(name, _Unchanged):
                subscriber.name = name
                changes.append("name")
            if exemption is None:
                _set_exemption(subscriber, None, None)
                changes.append("exemption removed")
            elif opt_out is not None:
                _set_exemption(subscriber, *opt_out)
                changes.append(f"exempt until {opt_out[1] or 'forever'}")
        log.info("subscriber %s updated: %s", account, ", ".join(changes) or "nothing")
        return change.result()

    def remove_subscriber(self, account: str) -> SubscriberView:
        """Delete a subscriber and (by cascade) its attachments."""
        now = self._clock()
        with self._write() as session:
            subscriber = subscriber_by_account(session, account)
            view = subscriber_view(subscriber, now)
            self._audit(session).record(
                "subscriber", account, "remove", subscriber_row_state(subscriber), None, account
            )
            session.delete(subscriber)
        log.info("subscriber %s removed", account)
        return view

    @contextlib.contextmanager
    def _changing(
        self, account: str, action: str, now: dt.datetime | None = None
    ) -> Iterator[_Change]:
        """Load ``account`` for the block to change, then stamp, view and audit it.

        Every change of an existing subscriber ends alike (``updated_at``, the
        view, an audit entry with the whole before and after), so it is
        written once, here. ``now`` defaults to the clock when the block ends.
        """
        with self._write() as session:
            subscriber = subscriber_by_account(session, account)
            change = _Change(session, subscriber, subscriber_row_state(subscriber))
            yield change
            stamp = self._clock() if now is None else now
            subscriber.updated_at = stamp
            session.flush()
            change.view = subscriber_view(subscriber, stamp)
            self._audit(session).record(
                "subscriber", account, action, change.before,
                subscriber_row_state(subscriber), account,
            )

    def _exemption(
        self, reason: str, until: dt.datetime | str | None, now: dt.datetime
    ) -> tuple[str, dt.datetime | None]:
        """A checked opt-out: its reason, and its end in UTC (None: no end), in the future."""
        reason = check_exempt_reason("reason", reason)
        until_utc = None if until is None else parse_time(until, "until", self._tz)
        if until_utc is not None:
            check_future("until", until, until_utc, now)
        return reason, until_utc


def subscriber_by_account(session: Session, account: str) -> Subscriber:
    """The subscriber with ``account``, its type and attachments loaded, or ``NotFound``."""
    check_lookup("subscriber", "account", account)
    subscriber = session.scalar(
        _with_details(sa.select(Subscriber)).where(Subscriber.account == account)
    )
    if subscriber is None:
        raise NotFound("subscriber", "account", account)
    return subscriber


def _with_details(query: _Select) -> _Select:
    """Load what a view needs in two extra queries, not one per subscriber."""
    return query.options(
        selectinload(Subscriber.connection_type),
        selectinload(Subscriber.attachments).selectinload(Attachment.switch),
    )


def _subscriber_filters(
    type_name: str | None, account_prefix: str | None, dpid: int | None
) -> list[sa.ColumnElement[bool]]:
    """The SQL conditions of ``page_subscribers``' filters."""
    # The filters reach SQL as bound parameters; PostgreSQL refuses text
    # with NUL, and no stored name or account holds a control character.
    conditions: list[sa.ColumnElement[bool]] = []
    if type_name is not None:
        check_no_control("type", type_name)
        conditions.append(Subscriber.connection_type.has(ConnectionType.name == type_name))
    if account_prefix is not None:
        check_no_control("account_prefix", account_prefix)
        # autoescape: an account containing % or _ is a literal prefix, not a pattern.
        conditions.append(Subscriber.account.startswith(account_prefix, autoescape=True))
    if dpid is not None:
        on_switch = Attachment.switch.has(Switch.dpid == dpid)
        conditions.append(Subscriber.attachments.any(on_switch))
    return conditions


def _set_exemption(
    subscriber: Subscriber, reason: str | None, until: dt.datetime | None
) -> None:
    """Opt ``subscriber`` out with ``reason`` until ``until``; reason None ends the opt-out."""
    subscriber.exempt = reason is not None
    subscriber.exempt_reason = reason
    subscriber.exempt_until = until
