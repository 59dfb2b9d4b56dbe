"""One received datagram -> a checked ``AccountingEvent`` (or the reason to drop it).

RFC 2866: a request from an unknown client or with a Request Authenticator
that does not verify under the client's secret is silently discarded, and so
is one whose attributes cannot be decoded. Those raise ``Dropped`` with a
fixed reason word (a metrics label). Everything here is pure: no socket, no
database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import struct
from typing import Any

from pyrad import packet as rp
from pyrad.dictionary import Dictionary

from op25b_app.radius.config import Client, RadiusConfig
from op25b_app.service import (
    ACCOUNTING_OFF,
    ACCOUNTING_ON,
    INTERIM,
    START,
    STOP,
    UNKNOWN_ACCOUNT,
    AccountingEvent,
    Place,
)

#: Acct-Status-Type (as the dictionary names it) -> event kind.
KINDS = {"Start": START, "Interim-Update": INTERIM, "Stop": STOP,
         "Accounting-On": ACCOUNTING_ON, "Accounting-Off": ACCOUNTING_OFF}
#: Framed-IP-Address values that name no address (RFC 2865 5.8).
_NOT_AN_ADDRESS = frozenset({"255.255.255.255", "255.255.255.254"})
_MAX_ACCOUNT = 64


class Dropped(Exception):
    """Discard the datagram without a reply; ``reason`` is the metrics label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A verified Accounting-Request: its type word, event (None: unsupported) and reply."""

    status: str
    event: AccountingEvent | None
    reply: bytes


def decode(data: bytes, client: Client, config: RadiusConfig, dictionary: Dictionary,
           now: dt.datetime) -> Request:
    """Verify and read one datagram from ``client``; ``Dropped`` says why not."""
    if len(data) < 20 or data[0] != rp.AccountingRequest:
        raise Dropped("not-accounting" if len(data) >= 20 else "malformed")
    try:
        pkt = rp.AcctPacket(packet=data, dict=dictionary, secret=client.secret)
    except (rp.PacketError, ValueError, KeyError, IndexError) as error:
        raise Dropped("malformed", str(error)) from None
    if not pkt.VerifyAcctRequest():
        raise Dropped("bad-authenticator")
    try:
        status = _one(pkt, "Acct-Status-Type")
        reply = accounting_response(data, client.secret)
        kind = KINDS.get(str(status))
        if kind is None:
            return Request(str(status or "missing"), None, reply)
        return Request(str(status), _event(pkt, kind, client, config, now), reply)
    except (ValueError, KeyError, TypeError, IndexError, rp.PacketError) as error:
        raise Dropped("malformed", str(error)) from None


def accounting_response(request: bytes, secret: bytes) -> bytes:
    """The Accounting-Response to ``request``: no attributes, RFC 2866 authenticator.

    MD5(Code + Identifier + Length + Request Authenticator + Secret); the
    same bytes as pyrad's ``CreateReply().ReplyPacket()``, built without
    decoding anything (the receiver thread's time is the server's limit).
    """
    head = struct.pack("!BBH", rp.AccountingResponse, request[1], 20)
    return head + hashlib.md5(head + request[4:20] + secret).digest()


def _one(pkt: rp.AcctPacket, name: str) -> Any:
    """The first value of attribute ``name`` (None when absent); decoding errors raise."""
    values = pkt[name] if name in pkt else []
    return values[0] if values else None


def _event(pkt: rp.AcctPacket, kind: str, client: Client, config: RadiusConfig,
           now: dt.datetime) -> AccountingEvent:
    session_id = _one(pkt, "Acct-Session-Id")
    if kind not in (ACCOUNTING_ON, ACCOUNTING_OFF) and not session_id:
        raise ValueError("no Acct-Session-Id")
    stamp = _one(pkt, "Event-Timestamp")
    delay = _one(pkt, "Acct-Delay-Time") or 0
    event_time = dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp is not None else \
        now - dt.timedelta(seconds=int(delay))
    user_name = _one(pkt, "User-Name")
    nas_port_id = _one(pkt, "NAS-Port-Id")
    framed_ip = _one(pkt, "Framed-IP-Address")
    framed_v6 = _one(pkt, "Framed-IPv6-Prefix")
    if framed_v6 is None and _one(pkt, "Framed-IPv6-Address") is not None:
        framed_v6 = f"{_one(pkt, 'Framed-IPv6-Address')}/128"
    nas_ip = _one(pkt, "NAS-IP-Address") or _one(pkt, "NAS-IPv6-Address")
    return AccountingEvent(
        kind=kind, nas=client.name, received_at=now, event_time=event_time,
        acct_session_id=session_id, account=_account(user_name, config),
        user_name=None if user_name is None else user_name[:253],
        place=_place(client, nas_port_id),
        framed_ip=None if framed_ip in _NOT_AN_ADDRESS else framed_ip,
        framed_ipv6_prefix=framed_v6, delegated_ipv6_prefix=_one(pkt, "Delegated-IPv6-Prefix"),
        nas_ip=None if nas_ip is None else str(nas_ip),
        nas_identifier=_one(pkt, "NAS-Identifier"), nas_port_id=nas_port_id,
        interim_interval=_one(pkt, "Acct-Interim-Interval"), timestamped=stamp is not None,
        source="radius")


def _account(user_name: str | None, config: RadiusConfig) -> str:
    """The account of a User-Name; a missing or unusable one is the unknown account.

    Never truncated: a cut name could be another customer's account.
    """
    if not user_name:
        return UNKNOWN_ACCOUNT
    account = config.account_for(user_name.strip())
    if not account or len(account) > _MAX_ACCOUNT or not account.isprintable():
        return UNKNOWN_ACCOUNT
    return account


def _place(client: Client, nas_port_id: str | None) -> Place | None:
    where = client.place_for(nas_port_id)
    if client.dpid is None or where is None:
        return None
    return Place(client.dpid, where.port, where.vlan)
