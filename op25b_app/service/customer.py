""""Am I affected?": the verdict for one source address, for the customer's page.

A customer who opens the page is identified by nothing but the address the
request comes from, so the question is "which attachment describes traffic
from this address?". The answer follows the policy's own rule, most specific
wins: of the attachments whose source prefix contains the address, the one
with the longest prefix decides. Port-only attachments cannot be found this
way (the page does not know which switch port the request entered on), and
neither can an address outside every prefix: those are *unknown*, and the
page says so instead of guessing.

The verdict itself is never computed here a second time: ``blocked_at`` is
the one definition of "is this subscriber blocked now", and the schedule
comes from ``PolicySnapshot.enforcement`` (switch override over the global
setting, monitor until the enforcement time), the same code the compiler
runs. This module only finds the rows and asks those two.

The lookup is a pure query: one read transaction, nothing written, and the
object that does it can do nothing else, so the public page's process holds
no write methods at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Callable, Sequence

import netaddr
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from op25b_app.core.constants import MODE_ENFORCE, MODE_MONITOR
from op25b_app.core.prefixes import network_text
from op25b_app.core.snapshot import (
    ROLE_EDGE,
    PolicySnapshot,
    SwitchInfo,
    blocked_at,
    exemption_active,
)
from op25b_app.db.models import (
    Attachment,
    ConnectionType,
    GlobalEnforcement,
    Subscriber,
    Switch,
    utc_now,
)
from op25b_app.service.errors import ValidationError
from op25b_app.service.transactions import ServiceBase


@dataclasses.dataclass(frozen=True, slots=True)
class LineVerdict:
    """What the page may tell the owner of ``address``, and nothing about anyone else.

    ``known`` is False when no attachment prefix contains the address, or when
    the most specific ones disagree (then the address alone cannot tell which
    line it is). For an unknown address the schedule fields describe the
    ISP-wide setting, which is public: what applies to a broadband line.
    """

    address: str
    known: bool
    #: TCP/25 to other servers than the ISP's relays is dropped right now.
    blocked_now: bool
    #: The line's connection type is subject to OP25B (broadband, not dial-up).
    subject: bool
    #: An opt-out applies now, and when it ends by itself (None: no expiry).
    opt_out: bool
    opt_out_until: dt.datetime | None
    #: The line's switch counts instead of blocking now (monitor mode) ...
    monitoring: bool
    #: ... until this time, from which it enforces (None: no date set).
    enforce_at: dt.datetime | None

    @property
    def blocked_from(self) -> dt.datetime | None:
        """When port 25 becomes blocked by itself, if it is not now and a date is set.

        Both an opt-out's expiry and a scheduled enforcement start must have
        passed, so the later of the two decides. None when blocked already,
        never blocked (not subject, an opt-out without expiry) or when
        monitoring has no end date yet.
        """
        if self.blocked_now or not self.subject:
            return None
        if self.opt_out and self.opt_out_until is None:
            return None
        if self.monitoring and self.enforce_at is None:
            return None
        moments = [t for t in (self.opt_out_until if self.opt_out else None,
                               self.enforce_at if self.monitoring else None) if t is not None]
        return max(moments) if moments else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Candidate:
    """One attachment containing the address, with the facts its verdict needs."""

    prefixlen: int
    dpid: int
    type_blocked: bool
    exempt: bool
    exempt_until: dt.datetime | None


class LineLookup(ServiceBase):
    """Read-only: the verdict for a source address (``line_verdict``).

    Deliberately not part of ``PolicyService``: the customer-facing process
    gets this object and so cannot write anything.
    """

    def __init__(self, engine: Engine, *,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        super().__init__(engine, clock=clock, actor="customer-page")

    def line_verdict(self, address: str, now: dt.datetime | None = None) -> LineVerdict:
        """The verdict for traffic from ``address`` at ``now`` (default: the clock)."""
        network = _host_network(address)
        when = self._clock() if now is None else now
        with self._read() as session:
            candidates = _candidates(session, network)
            glob = session.get(GlobalEnforcement, 1)
            switches = _switches(session, {c.dpid for c in candidates})
        snapshot = PolicySnapshot(
            revision=0, switches=switches, attachments={}, mtas=(),
            mode=glob.mode if glob else MODE_ENFORCE,
            enforce_at=glob.enforce_at if glob else None,
        )
        text = str(network.ip)
        verdicts = {_verdict(text, c, snapshot, when) for c in _most_specific(candidates)}
        if len(verdicts) == 1:
            return verdicts.pop()
        return _unknown(text, snapshot, when)


def _host_network(address: str) -> netaddr.IPNetwork:
    """``address`` as a host network; IPv4-mapped IPv6 (a dual-stack socket) as IPv4."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0].strip())
    except ValueError:
        raise ValidationError("address", address, "not an IPv4 or IPv6 address") from None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return netaddr.IPNetwork((int(parsed), parsed.max_prefixlen), parsed.version)


def _containing_prefixes(network: netaddr.IPNetwork) -> list[str]:
    """Every prefix containing the address, in the stored (canonical) text form.

    At most 129 strings: matching them with ``IN`` finds the containing
    attachments exactly with plain string equality, on any backend.
    """
    bits = 32 if network.version == 4 else 128
    return [network_text(netaddr.IPNetwork((network.value, length), network.version))
            for length in range(bits, -1, -1)]


def _candidates(session: Session, network: netaddr.IPNetwork) -> list[_Candidate]:
    """The attachments on edge switches whose source prefix contains the address."""
    query = (
        sa.select(Attachment.prefix, Switch.dpid, ConnectionType.blocked, Subscriber.exempt,
                  Subscriber.exempt_until)
        .join(Subscriber, Attachment.subscriber_id == Subscriber.id)
        .join(ConnectionType, Subscriber.type_id == ConnectionType.id)
        .join(Switch, Attachment.switch_id == Switch.id)
        .where(Attachment.prefix.in_(_containing_prefixes(network)),
               Switch.role == ROLE_EDGE)
    )
    return [_Candidate(int(str(prefix).rpartition("/")[2]), dpid, bool(blocked), bool(exempt),
                       until)
            for prefix, dpid, blocked, exempt, until in session.execute(query)]


def _switches(session: Session, dpids: set[int]) -> dict[int, SwitchInfo]:
    """The enforcement overrides of the candidates' switches (names are not read)."""
    if not dpids:
        return {}
    rows = session.execute(sa.select(Switch.dpid, Switch.mode, Switch.enforce_at)
                           .where(Switch.dpid.in_(sorted(dpids))))
    return {dpid: SwitchInfo(dpid=dpid, name="", mode=mode, enforce_at=enforce_at)
            for dpid, mode, enforce_at in rows}


def _most_specific(candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """The candidates with the longest prefix: the ones the policy's rule picks."""
    if not candidates:
        return []
    longest = max(c.prefixlen for c in candidates)
    return [c for c in candidates if c.prefixlen == longest]


def _verdict(address: str, candidate: _Candidate, snapshot: PolicySnapshot,
             now: dt.datetime) -> LineVerdict:
    mode, change_at = snapshot.enforcement(candidate.dpid, now)
    opt_out = exemption_active(candidate.exempt, candidate.exempt_until, now)
    would_block = blocked_at(candidate.type_blocked, candidate.exempt, candidate.exempt_until,
                             now)
    return LineVerdict(
        address=address, known=True,
        blocked_now=would_block and mode != MODE_MONITOR,
        subject=candidate.type_blocked,
        opt_out=opt_out, opt_out_until=candidate.exempt_until if opt_out else None,
        monitoring=mode == MODE_MONITOR, enforce_at=change_at,
    )


def _unknown(address: str, snapshot: PolicySnapshot, now: dt.datetime) -> LineVerdict:
    """What applies to a broadband line under the ISP-wide setting (public information).

    A dpid no switch has never matches an override, so this is the global mode.
    """
    mode, change_at = snapshot.enforcement(-1, now)
    return LineVerdict(
        address=address, known=False, blocked_now=mode != MODE_MONITOR, subject=True,
        opt_out=False, opt_out_until=None, monitoring=mode == MODE_MONITOR, enforce_at=change_at,
    )
