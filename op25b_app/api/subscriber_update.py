"""PATCH of a subscriber (name, type, opt-out) as ONE service transaction.

PATCH must be all or nothing: a request that renames a subscriber and names
an unknown type must not leave the rename behind. ``PolicyService`` has one
method per change (``set_subscriber_type``, ``exempt_subscriber``, ...),
each its own transaction, and no rename at all, so chaining them would
half-write. The combined write belongs in the service layer, next to the
other rules and the audit trail; until ``PolicyService.update_subscriber``
exists there, ``InterimPolicyService`` below provides it with the service's
own validators and write transaction, and ``service_class()`` switches to the
real one as soon as it appears. (Move this method into ``service.py`` and
delete this module's class.)
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

from op25b_app.service import (
    PolicyService,
    SubscriberView,
    _subscriber_by_account,
    _subscriber_state,
    _subscriber_view,
    _type_by_name,
    check_exempt_reason,
    check_future,
    check_subscriber_name,
    parse_time,
)

log = logging.getLogger(__name__)


class _Unchanged:
    """Marker for "this key was not in the PATCH body" (None means "clear it")."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()


class InterimPolicyService(PolicyService):
    """``PolicyService`` plus ``update_subscriber`` (see the module docstring)."""

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


def service_class() -> type[PolicyService]:
    """``PolicyService`` once it has ``update_subscriber``, else the interim subclass."""
    if hasattr(PolicyService, "update_subscriber"):
        return PolicyService
    return InterimPolicyService


def update_kwargs(fields_set: set[str], name: Any, type_name: Any,
                  exemption: tuple[str, str | None] | None) -> dict[str, Any]:
    """Keyword arguments of ``update_subscriber`` for the keys a PATCH body contained."""
    kwargs: dict[str, Any] = {}
    if "name" in fields_set and name is not None:
        kwargs["name"] = name
    if "type" in fields_set and type_name is not None:
        kwargs["type_name"] = type_name
    if "exemption" in fields_set:
        kwargs["exemption"] = exemption
    return kwargs
