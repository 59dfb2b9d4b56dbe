"""What the audit trail records as an entity's before/after state.

One builder per entity, used by every path that writes it (a single write
through the ORM, the bulk import through Core statements), so the same
subscriber always produces the same JSON whichever way it was written and
``describe_change`` compares like with like.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from op25b_app.db.models import Subscriber
from op25b_app.service.views import SwitchView


def attachment_state(match_key: str, carries: str | None) -> str:
    """One attachment as a subscriber's audit state lists it.

    The match key, plus ``+carries=KINDS`` (the storage text) when it carries
    encapsulations: a change of what passes the guard band then shows as
    "+attachment 1:7:*:*+carries=mpls, -attachment 1:7:*:*". An attachment
    without any is recorded exactly as before carries existed, so older
    entries compare like with like.
    """
    return match_key if not carries else f"{match_key}+carries={carries}"


def subscriber_state(
    account: str,
    name: str,
    type_name: str,
    exempt: bool,
    exempt_reason: str | None,
    exempt_until: dt.datetime | None,
    attachments: Iterable[str],
) -> dict[str, Any]:
    """A subscriber as the audit trail records it (before/after).

    Takes plain values, not a row, because the bulk import never builds ORM
    objects for the 100k subscribers it writes; ``attachments`` are
    ``attachment_state`` strings.
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
        "attachments": sorted(attachments),
    }


def subscriber_row_state(subscriber: Subscriber) -> dict[str, Any]:
    """``subscriber_state`` of an ORM row (type and attachments loaded)."""
    return subscriber_state(
        subscriber.account,
        subscriber.name,
        subscriber.connection_type.name,
        subscriber.exempt,
        subscriber.exempt_reason,
        subscriber.exempt_until,
        (attachment_state(a.match_key, a.carries) for a in subscriber.attachments),
    )


def switch_state(view: SwitchView) -> dict[str, Any]:
    """A switch as the audit trail records it (the dpid in hex, as operators write it)."""
    return {
        "dpid": f"{view.dpid:#x}",
        "name": view.name,
        "role": view.role,
        "uplinks": list(view.uplinks),
        "capacity": view.capacity,
        "compact": view.compact,
    }


def connection_type_state(name: str, blocked: bool, description: str) -> dict[str, Any]:
    """A connection type as the audit trail records it."""
    return {"name": name, "blocked": blocked, "description": description}


def mta_state(name: str, prefixes: Sequence[str], wide: bool = False) -> dict[str, Any]:
    """An MTA as the audit trail records it.

    One prefix is recorded as ``prefix`` (as before MTAs could hold several,
    so old and new entries compare like with like), several as ``prefixes``;
    ``wide`` marks an MTA registered with a prefix wider than the limit
    (``--wide``), the entry an auditor looks for when port 25 opened widely.
    """
    state: dict[str, Any] = {"name": name}
    if len(prefixes) == 1:
        state["prefix"] = prefixes[0]
    else:
        state["prefixes"] = list(prefixes)
    if wide:
        state["wide"] = True
    return state
