"""Bodies of ``/sessions`` (dynamic subscribers): shape only, values checked by the service."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, StrictInt

from op25b_app.api.schemas import DpidIn, Port, Text, Vlan, _Request, _Response


class SessionCreate(_Request):
    """A session from a DHCP hook (lease committed) or a script: created, or refreshed.

    Idempotent by (``nas``, ``session_id``): a hook may send the same lease again.
    """

    nas: Text = Field(description="The feed's name, e.g. the DHCP server ('kea1').")
    session_id: Text = Field(description="Unique per feed, e.g. the leased address.")
    account: Text = Field(description="Subscriber account; an unknown one is blocked.")
    dpid: DpidIn
    port: Port
    vlan: Vlan | None = None
    addresses: list[Text] = Field(
        default_factory=list, max_length=3,
        description="An IPv4 address and/or IPv6 prefixes (the second IPv6 one is delegated).")
    lifetime_seconds: StrictInt | None = Field(
        default=None, ge=1, le=10 * 365 * 86400,
        description="Lease time: the session expires by itself after it.")


class Session(_Response):
    """A dynamic attachment: who held which addresses where, and when."""

    id: int
    nas: str
    acct_session_id: str
    account: str
    known: bool
    user_name: str | None
    source: str
    dpid: int | None
    dpid_hex: str | None
    port: int | None
    vlan: int | None
    place: str | None
    addresses: list[str]
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
    attachment_ids: list[int]


class SessionPage(_Response):
    """One page of sessions, newest first."""

    items: list[Session]
    total: int
    limit: int
    offset: int
