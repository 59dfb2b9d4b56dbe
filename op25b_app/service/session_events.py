"""What a session feed reports, checked: accounting events, expiry policy, outcomes.

Every feed - the RADIUS accounting server, a DHCP server's hook through the
REST API, an operator - describes a change as an ``AccountingEvent``;
``check_event`` turns its raw fields into the stored forms (canonical
prefixes, ranges checked) or names the bad field, so a malformed address is
refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import netaddr

from op25b_app.core.limits import MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.prefixes import IPV4_MAPPED
from op25b_app.db.models import SOURCES
from op25b_app.service.errors import ValidationError
from op25b_app.service.inputs import parse_dpid, parse_int
from op25b_app.service.texts import check_characters

START = "start"
INTERIM = "interim"
STOP = "stop"
ACCOUNTING_ON = "on"
ACCOUNTING_OFF = "off"
KINDS = (START, INTERIM, STOP, ACCOUNTING_ON, ACCOUNTING_OFF)

#: The account of a session whose User-Name is missing or unusable (blocked).
UNKNOWN_ACCOUNT = "(unknown)"
MAX_ACCOUNT = 64
MAX_TEXT = 253

#: What happened to one event (the radius metrics' ``result`` label).
CREATED = "created"
UPDATED = "updated"
REFRESHED = "refreshed"
ENDED = "ended"
IGNORED = "ignored"
RESET = "reset"


@dataclasses.dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """When a session that stops reporting counts as gone.

    A RADIUS session expires ``missed_interims`` interim intervals after it
    was last heard of (its own Acct-Interim-Interval, else
    ``default_interval``); 0 for ``default_interval`` means a session without
    an interval never expires by itself.
    """

    missed_interims: float = 3.0
    default_interval: dt.timedelta = dt.timedelta(minutes=5)

    def expires(self, heard: dt.datetime, interval_s: int | None) -> dt.datetime | None:
        """When a session last heard of at ``heard`` expires (None: never)."""
        seconds = interval_s if interval_s else self.default_interval.total_seconds()
        if seconds <= 0:
            return None
        return heard + dt.timedelta(seconds=seconds * self.missed_interims)


@dataclasses.dataclass(frozen=True, slots=True)
class Place:
    """Where a session's traffic enters the edge: switch, port, optional VLAN."""

    dpid: int
    port: int
    vlan: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AccountingEvent:
    """One report from a feed. ``nas`` names the configured client it came from.

    ``event_time`` is when it happened (Event-Timestamp, else the receive
    time less Acct-Delay-Time); ``timestamped`` says the feed gave that time
    itself, the only evidence that a Start for an already ended
    Acct-Session-Id is a new session rather than a late copy.
    ``lifetime`` (DHCP leases) overrides the expiry policy for this event.
    """

    kind: str
    nas: str
    received_at: dt.datetime
    event_time: dt.datetime
    acct_session_id: str | None = None
    account: str = UNKNOWN_ACCOUNT
    user_name: str | None = None
    place: Place | None = None
    framed_ip: str | None = None
    framed_ipv6_prefix: str | None = None
    delegated_ipv6_prefix: str | None = None
    nas_ip: str | None = None
    nas_identifier: str | None = None
    nas_port_id: str | None = None
    interim_interval: int | None = None
    timestamped: bool = False
    source: str = "radius"
    lifetime: dt.timedelta | None = None

    @property
    def addresses(self) -> tuple[str | None, str | None, str | None]:
        """The address slots, in the order of ``db.models.SESSION_ADDRESS_COLUMNS``."""
        return (self.framed_ip, self.framed_ipv6_prefix, self.delegated_ipv6_prefix)


def check_event(event: AccountingEvent) -> AccountingEvent:
    """``event`` with its fields in stored form; ``ValidationError`` names a bad one."""
    if event.kind not in KINDS:
        raise ValidationError("kind", event.kind, f"not one of {', '.join(KINDS)}")
    if event.source not in SOURCES:
        raise ValidationError("source", event.source, f"not one of {', '.join(SOURCES)}")
    _text("nas", event.nas, MAX_ACCOUNT, required=True)
    for name in ("user_name", "nas_ip", "nas_identifier", "nas_port_id"):
        _text(name, getattr(event, name), MAX_TEXT)
    for name in ("received_at", "event_time"):
        value = getattr(event, name)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValidationError(name, value, "not a time with a UTC offset")
    event = dataclasses.replace(event, received_at=_utc(event.received_at),
                                event_time=_utc(event.event_time))
    if event.kind in (ACCOUNTING_ON, ACCOUNTING_OFF):
        return event
    _text("acct_session_id", event.acct_session_id, MAX_TEXT, required=True)
    _text("account", event.account, MAX_ACCOUNT, required=True)
    interval = event.interim_interval
    if interval is not None:
        interval = parse_int("interim_interval", interval, 0, 2**31 - 1, "a number of seconds")
    return dataclasses.replace(
        event, place=_place(event.place), interim_interval=interval,
        framed_ip=_address("framed_ip", event.framed_ip, 4, exact=True),
        framed_ipv6_prefix=_address("framed_ipv6_prefix", event.framed_ipv6_prefix, 6),
        delegated_ipv6_prefix=_address("delegated_ipv6_prefix", event.delegated_ipv6_prefix, 6),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _text(field: str, value: str | None, max_len: int, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValidationError(field, value, "missing")
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(field, value, "must be non-empty text")
    if len(value) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    check_characters(field, value)


def _place(place: Place | None) -> Place | None:
    if place is None:
        return None
    vlan = None if place.vlan is None else \
        parse_int("vlan", place.vlan, MIN_VLAN, MAX_VLAN, "a VLAN id")
    return Place(parse_dpid(place.dpid), parse_int("port", place.port, MIN_PORT, MAX_PORT,
                                                   "a port number"), vlan)


def _address(field: str, value: str | None, version: int, exact: bool = False) -> str | None:
    """The canonical prefix text of an address or prefix of IP ``version``."""
    if value is None:
        return None
    try:
        network = netaddr.IPNetwork(str(value).strip())
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(field, value, f"not an IPv{version} address or prefix") from None
    if network.version != version:
        raise ValidationError(field, value, f"not IPv{version}")
    if exact and network.size != 1:
        raise ValidationError(field, value, "must be one address")
    if version == 6 and network in IPV4_MAPPED:
        raise ValidationError(field, value, "an IPv4-mapped IPv6 prefix")
    if network.prefixlen == 0:
        raise ValidationError(field, value, "a /0 would cover every sender")
    return str(network.cidr)
