"""The address ranges op25b blocks, published for other operators.

Mail operators reject (or score) mail that arrives directly from dynamic
broadband addresses; an ISP that blocks outbound port 25 publishes those
ranges so they can - e.g. as an rbldnsd zone of "dynamic, OP25B" addresses.
The list is what the switches do, by the compiler's own rules:

* an address is listed when the most specific attachment prefix covering it
  belongs to a subscriber whose TCP/25 is blocked now (connection type
  subject to OP25B, no current opt-out: ``core.snapshot.blocked_at``); an
  exempt or dial-up subscriber's more specific prefix inside a blocked range
  is cut out, and a blocked one inside an exempt range is listed (on equal
  prefixes exempt wins: listing an address that may send mail directly would
  get that customer's mail rejected elsewhere);
* the ISP's MTAs are never listed;
* attachments without a prefix (port or VLAN only) contribute nothing: the
  database does not know their addresses.

The result is merged with ``netaddr.cidr_merge`` (the fewest CIDR blocks),
IPv4 and IPv6 apart.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import netaddr
import sqlalchemy as sa

from op25b_app.core.snapshot import blocked_at
from op25b_app.db.models import Attachment, ConnectionType, Mta, Subscriber
from op25b_app.service.errors import StoredDataError, ValidationError
from op25b_app.service.transactions import ServiceBase

FORMATS: tuple[str, ...] = ("text", "csv", "rbldnsd")
#: What an rbldnsd query for a listed address answers (127.0.0.0/8, RFC 5782).
RBLDNSD_A = "127.0.0.10"
RBLDNSD_TXT = "dynamic broadband, OP25B: TCP/25 from $ is blocked by its provider"


@dataclasses.dataclass(frozen=True)
class BlockedRanges:
    """The merged prefixes, and the policy revision and time they are true for."""

    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    revision: int
    at: dt.datetime


class RangeOps(ServiceBase):
    """Mixed into ``PolicyService``: the blocked ranges, read in one transaction."""

    def blocked_ranges(self) -> BlockedRanges:
        """Every address blocked now by op25b, merged (see the module docstring)."""
        now = self._clock()
        query = (sa.select(Attachment.id, Attachment.prefix, ConnectionType.blocked,
                           Subscriber.exempt, Subscriber.exempt_until)
                 .join(Subscriber, Attachment.subscriber_id == Subscriber.id)
                 .join(ConnectionType, Subscriber.type_id == ConnectionType.id)
                 .where(Attachment.prefix.is_not(None)))
        # Imported here: every command loads this module with PolicyService,
        # and only this call needs the snapshot loader.
        from op25b_app.db.snapshot_loader import read_revision

        with self._read() as session:
            revision = read_revision(session)
            rows = session.execute(query).all()
            mtas = session.execute(sa.select(Mta.id, Mta.prefix)).all()
        verdicts = [(_network("attachments", r.id, r.prefix),
                     blocked_at(r.blocked, r.exempt, r.exempt_until, now)) for r in rows]
        listed = most_specific_wins(verdicts)
        return _split(listed, [_network("mtas", m.id, m.prefix) for m in mtas], revision, now)


def most_specific_wins(verdicts: list[tuple[netaddr.IPNetwork, bool]]) -> netaddr.IPSet:
    """The addresses whose most specific prefix is a blocked one.

    Shorter prefixes first, so a longer one overrides them; at equal length
    the exempt one comes last and wins.
    """
    listed = netaddr.IPSet()
    for network, blocked in sorted(verdicts, key=lambda v: (v[0].prefixlen, not v[1])):
        if blocked:
            listed.add(network)
        else:
            listed.remove(network)
    return listed


def _split(listed: netaddr.IPSet, mtas: list[netaddr.IPNetwork], revision: int,
           now: dt.datetime) -> BlockedRanges:
    for mta in mtas:
        listed.remove(mta)
    merged = netaddr.cidr_merge(list(listed.iter_cidrs()))
    return BlockedRanges(tuple(str(n) for n in merged if n.version == 4),
                         tuple(str(n) for n in merged if n.version == 6), revision, now)


def _network(table: str, row: int, text: str | None) -> netaddr.IPNetwork:
    try:
        return netaddr.IPNetwork(text or "").cidr
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise StoredDataError("prefix", text, f"malformed stored prefix {text!r} in {table} "
                              f"row {row} (written around op25b's validation?)") from None


def render_ranges(ranges: BlockedRanges, fmt: str = "text") -> str:
    """``ranges`` in one of ``FORMATS``, ending with a newline (empty: nothing listed)."""
    if fmt == "text":
        return "".join(f"{p}\n" for p in (*ranges.ipv4, *ranges.ipv6))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["prefix", "family"])
        writer.writerows([[p, "ipv4"] for p in ranges.ipv4] + [[p, "ipv6"] for p in ranges.ipv6])
        return out.getvalue()
    if fmt == "rbldnsd":
        return rbldnsd_zone(ranges)
    raise ValidationError("format", fmt, f"must be one of {', '.join(FORMATS)}")


def rbldnsd_zone(ranges: BlockedRanges) -> str:
    """An rbldnsd ``combined`` dataset: IPv4 as ``ip4set``, IPv6 as ``ip6trie``.

    One file serves both families from one zone (``ZONE:combined:FILE``).
    IPv6 uses ``ip6trie`` rather than ``ip6tset``: ip6tset holds /64s only, so
    a /56 delegation would be 256 lines and a /128 could not be written
    without listing its 63-bit neighbourhood. No ``$SOA``/``$NS`` here: they
    name the operator's own servers; list a small file holding them first
    (``ZONE:combined:soa.local,op25b.zone``), as rbldnsd(8) describes.
    """
    value = f":{RBLDNSD_A}:{RBLDNSD_TXT}"
    lines = [
        "# op25b: dynamic broadband addresses under Outbound Port 25 Blocking",
        (f"# policy revision {ranges.revision} at {ranges.at.isoformat(timespec='seconds')}; "
         f"{len(ranges.ipv4)} IPv4 and {len(ranges.ipv6)} IPv6 prefixes"),
        "$DATASET ip4set:op25b-ipv4 @", value, *ranges.ipv4,
        "$DATASET ip6trie:op25b-ipv6 @", value, *ranges.ipv6,
    ]
    return "\n".join(lines) + "\n"
