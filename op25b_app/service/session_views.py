"""``SessionView``: one session as the CLI and the REST API show it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from op25b_app.core.session_ids import SLOTS, session_attachment_id
from op25b_app.service.session_apply import place_text
from op25b_app.service.views import to_jsonable


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A dynamic attachment: who held which addresses where, when; and whether it is live.

    ``known`` is False for an account that names no subscriber: such a
    session is blocked (fail closed) and shown so the operator can add the
    customer. ``attachment_ids`` are the ids its entries carry in their
    cookies (and the counters record), one per address.
    """

    id: int
    nas: str
    acct_session_id: str
    account: str
    known: bool
    user_name: str | None
    source: str
    dpid: int | None
    port: int | None
    vlan: int | None
    place: str | None
    framed_ip: str | None
    framed_ipv6_prefix: str | None
    delegated_ipv6_prefix: str | None
    nas_ip: str | None
    nas_identifier: str | None
    nas_port_id: str | None
    interim_interval: int | None
    started_at: dt.datetime
    last_seen: dt.datetime
    expires_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str | None
    live: bool
    attachment_ids: tuple[int, ...]

    @property
    def addresses(self) -> list[str]:
        """The addresses it holds (or held), in slot order."""
        return [a for a in (self.framed_ip, self.framed_ipv6_prefix, self.delegated_ipv6_prefix)
                if a is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 with offset)."""
        data: dict[str, Any] = to_jsonable(self)
        data["dpid_hex"] = None if self.dpid is None else f"{self.dpid:#x}"
        data["addresses"] = self.addresses
        return data


def session_view(row: Any, known: bool, now: dt.datetime) -> SessionView:
    """The view of a session row (``known``: its account is a subscriber)."""
    live = row.ended_at is None and (row.expires_at is None or row.expires_at > now)
    addresses = (row.framed_ip, row.framed_ipv6_prefix, row.delegated_ipv6_prefix)
    ids = tuple(session_attachment_id(row.id, slot) for slot, a in zip(SLOTS, addresses,
                                                                        strict=True)
                if a is not None)
    return SessionView(
        id=row.id, nas=row.nas, acct_session_id=row.acct_session_id, account=row.account,
        known=known, user_name=row.user_name, source=row.source, dpid=row.dpid, port=row.port,
        vlan=row.vlan, place=place_text(row.dpid, row.port, row.vlan), framed_ip=row.framed_ip,
        framed_ipv6_prefix=row.framed_ipv6_prefix,
        delegated_ipv6_prefix=row.delegated_ipv6_prefix, nas_ip=row.nas_ip,
        nas_identifier=row.nas_identifier, nas_port_id=row.nas_port_id,
        interim_interval=row.interim_interval, started_at=row.started_at,
        last_seen=row.last_seen, expires_at=row.expires_at, ended_at=row.ended_at,
        end_reason=row.end_reason, live=live, attachment_ids=ids)
