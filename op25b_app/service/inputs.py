"""Parsing and checking of every input field, with errors that name field and value.

One definition for each kind of input (integers, datapath ids, ports, VLANs,
prefixes, carried encapsulations, times, spans, time zones), shared by the
single writes, the bulk import, the CLI and the REST API, so the same cell
gets the same verdict and the same message whichever way it arrives. What
text may contain (names, accounts) is ``texts``.

Numbers are ASCII digits, nothing else: ``int()`` would also take "٣"
(Arabic-Indic three), "1_000", "+5" and " 0x2 ", none of which an operator
means as a port or a datapath id. ``0x`` hex is accepted where it is
documented (datapath ids). Times and spans have a range (``core.limits``).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable

import netaddr

from op25b_app.core.constants import ENCAPSULATIONS
from op25b_app.core.limits import (
    EARLIEST_TIME_YEAR,
    LATEST_TIME_YEAR,
    MAX_DPID,
    MAX_INTEGER_CHARS,
    MAX_LOCK_TIMEOUT_S,
    MAX_PORT,
    MAX_SPAN_DAYS,
    MAX_VLAN,
    MIN_PORT,
    MIN_VLAN,
)
from op25b_app.core.prefixes import IPV4_MAPPED, plain_prefix
from op25b_app.db.models import carries_to_db
from op25b_app.service.errors import ValidationError

#: Between the kinds of a carried-encapsulations cell: "mpls,qinq", "mpls qinq".
_CARRIES_SEPARATORS = re.compile(r"[\s,]+")
_DECIMAL = re.compile(r"[0-9]+", re.ASCII)
_HEX = re.compile(r"0[xX][0-9a-fA-F]+", re.ASCII)
#: What a prefix may look like before netaddr sees it: ASCII address characters
#: and a length without leading zeros ("/08" and "/٣٢" are typos netaddr forgives).
_PREFIX_TEXT = re.compile(r"[0-9A-Fa-f:.]+(?:/(?:0|[1-9][0-9]{0,2}))?", re.ASCII)
#: The first and last instant a time may name (UTC), see ``core.limits``.
EARLIEST_TIME = dt.datetime(EARLIEST_TIME_YEAR, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(LATEST_TIME_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
_TIME_RANGE = (f"outside the times op25b accepts ({EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} .. "
               f"{LATEST_TIME:%Y-%m-%dT%H:%M:%SZ})")


def parse_int(
    field: str, value: int | str, low: int, high: int, what: str, *, hex_ok: bool = False
) -> int:
    """An integer ``low..high`` given as a number or as ASCII decimal text
    (``0x``-hex too when ``hex_ok``): the one integer parser of every input.

    ``bool`` is refused although it is an ``int``: ``true`` for a port is a
    mistake in a JSON body, not port 1. Text is taken exactly: no sign, no
    surrounding blanks, no underscores, no digits of other scripts.
    """
    if isinstance(value, bool):
        raise ValidationError(field, value, f"not {what}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and len(value) <= MAX_INTEGER_CHARS and _DECIMAL.fullmatch(value):
        number = int(value, 10)
    elif (hex_ok and isinstance(value, str) and len(value) <= MAX_INTEGER_CHARS
          and _HEX.fullmatch(value)):
        number = int(value, 16)
    else:
        raise ValidationError(field, value, f"not {what}")
    if not low <= number <= high:
        raise ValidationError(field, value, f"out of range {low}..{high}")
    return number


def parse_dpid(value: int | str, field: str = "dpid") -> int:
    """A datapath id: decimal or 0x-hex, 0..2**64-1."""
    return parse_int(field, value, 0, MAX_DPID, "a datapath id (decimal or 0x-hex)",
                     hex_ok=True)


def parse_port(value: int | str, field: str = "port") -> int:
    """An OpenFlow port number, 1..OFPP_MAX (0xffffff00)."""
    return parse_int(field, value, MIN_PORT, MAX_PORT, "a port number")


def parse_vlan(value: int | str | None, field: str = "vlan") -> int | None:
    """A VLAN id 0..4095, or None for untagged-or-any."""
    if value is None or value in ("", "*"):
        return None
    return parse_int(field, value, MIN_VLAN, MAX_VLAN, "a VLAN id")


def parse_prefix(value: str, field: str = "prefix") -> netaddr.IPNetwork:
    """A source/destination prefix, normalised to its network (host bits cleared).

    Host bits are accepted and cleared because operators routinely paste an
    address with its subnet length ("10.1.0.5/24"); garbage and IPv4-mapped
    IPv6 (which never appears as a source on the wire) are rejected.
    """
    return parse_prefix_text(value, field)[0]


def parse_prefix_text(value: str, field: str = "prefix") -> tuple[netaddr.IPNetwork, str]:
    """``parse_prefix`` plus the canonical text of the result (the storage form).

    Plain "address/length" text takes the fast path of ``prefixes.plain_prefix``
    (a 100k-line import parses every prefix); netaddr decides everything else,
    with the same result.
    """
    if value.__class__ is not str or not _PREFIX_TEXT.fullmatch(value):
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix")
    fast = plain_prefix(value)
    if fast is not None:
        return fast
    network = _slow_prefix(value, field)
    return network, str(network)


def _slow_prefix(value: str, field: str) -> netaddr.IPNetwork:
    try:
        network = netaddr.IPNetwork(value).cidr
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix") from None
    if network.version == 6 and network in IPV4_MAPPED:
        raise ValidationError(
            field, value, "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"
        )
    return network


def parse_attach_point(value: str, field: str = "attach") -> tuple[int, int, int | None]:
    """``DPID:PORT[:VLAN]`` (dpid decimal or 0x-hex) -> (dpid, port, vlan)."""
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) not in (2, 3):
        raise ValidationError(field, value, "expected DPID:PORT or DPID:PORT:VLAN")
    dpid = parse_dpid(parts[0], "dpid")
    port = parse_port(parts[1], "port")
    vlan = parse_vlan(parts[2], "vlan") if len(parts) == 3 else None
    return dpid, port, vlan


def parse_carries(value: Iterable[str], field: str = "carries") -> str | None:
    """Encapsulations an attachment carries on purpose, as their storage text.

    Each kind must be a name of ``ENCAPSULATIONS`` exactly as written there
    (the API documents them as an enum, so " MPLS" is not quietly accepted
    by one interface and refused by another); duplicates collapse. Returns
    the canonical text (``mpls,qinq``), None for none.
    """
    if isinstance(value, str):
        raise ValidationError(field, value, "expected a list of kinds, not one string")
    kinds = list(value)
    for kind in kinds:
        if not isinstance(kind, str) or kind not in ENCAPSULATIONS:
            raise ValidationError(field, kind, "not an encapsulation op25b knows "
                                  f"(known: {', '.join(sorted(ENCAPSULATIONS))})")
    return carries_to_db(kinds)


def split_carries(text: str) -> list[str]:
    """The kinds in one line of text: separated by commas and/or whitespace (a CSV cell)."""
    return [kind for kind in _CARRIES_SEPARATORS.split(text) if kind]


def parse_time(
    value: str | dt.datetime, field: str = "until", tz: dt.tzinfo | None = None
) -> dt.datetime:
    """An ISO 8601 time in the accepted range (``core.limits``), returned in UTC.

    With an explicit offset ('Z' or +09:00) it means exactly that. Without
    one it is a wall-clock time in ``tz`` (the configured zone); with no zone
    configured it is rejected, because whether '2026-12-31T00:00' means JST
    or UTC decides when a customer's mail starts bouncing. A wall-clock time
    that a daylight-saving change skips or repeats is rejected too. The
    year is checked before any conversion, so no offset can overflow it.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            if not text.isascii():
                raise ValueError(text)
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                field, value, "not an ISO 8601 time (e.g. 2026-12-31T00:00+09:00)"
            ) from None
    if not EARLIEST_TIME_YEAR <= parsed.year <= LATEST_TIME_YEAR:
        raise ValidationError(field, value, _TIME_RANGE)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if tz is None:
            raise ValidationError(field, value, "needs an explicit UTC offset, e.g. +09:00 or Z")
        parsed = _localize(parsed.replace(tzinfo=None), tz, field, value)
    utc = parsed.astimezone(dt.UTC)
    if not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise ValidationError(field, value, _TIME_RANGE)
    return utc


def in_time_range(value: dt.datetime) -> bool:
    """Whether a (stored) aware time lies in the range input is held to."""
    return EARLIEST_TIME <= value <= LATEST_TIME


def _localize(naive: dt.datetime, tz: dt.tzinfo, field: str, value: object) -> dt.datetime:
    """``naive`` as a wall-clock time in ``tz``; refuses skipped and repeated times."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # fold=0/1 differ only around a DST change: either the wall time
        # happens twice, or (if it does not survive a round trip) never.
        back = first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
        what = "happens twice" if back == naive else "does not exist"
        raise ValidationError(
            field, value, f"{what} in time zone {tz} (daylight saving); give a UTC offset"
        )
    return first


_SPAN_RE = re.compile(r"([0-9]{1,9})([smhdw])", re.ASCII | re.IGNORECASE)
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SPAN = dt.timedelta(days=MAX_SPAN_DAYS)


def parse_span(value: str, field: str = "window") -> dt.timedelta:
    """A duration such as 30m, 12h, 7d or 2w (s, m, h, d, w), up to ``MAX_SPAN_DAYS``.

    Zero is refused; so is a span longer than the limit, because "since
    99999999 days ago" is before year 1 and no database holds such a time.
    """
    match = _SPAN_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValidationError(field, value, "not a span such as 30m, 12h, 7d or 2w")
    seconds = int(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]
    if seconds > MAX_SPAN.total_seconds():
        raise ValidationError(field, value, f"longer than {MAX_SPAN_DAYS} days")
    return dt.timedelta(seconds=seconds)


def parse_since(
    value: str | dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None, field: str = "since"
) -> dt.datetime:
    """A time (as ``parse_time``) or a span back from ``now``: 30m, 12h, 7d, 2w."""
    if isinstance(value, str) and _SPAN_RE.fullmatch(value):
        return now - parse_span(value, field)
    try:
        return parse_time(value, field, tz)
    except ValidationError as error:
        if error.reason.startswith("not an ISO 8601 time"):
            raise ValidationError(
                field, value, "not an ISO 8601 time or a span such as 30m, 12h, 7d"
            ) from None
        raise


def parse_zone(value: str, field: str = "tz") -> dt.tzinfo:
    """An IANA time zone name (e.g. Asia/Tokyo, UTC) as a tzinfo."""
    name = value.strip() if isinstance(value, str) else ""
    if name.upper() in ("UTC", "Z"):
        return dt.UTC
    try:
        if not name.isascii() or not name.isprintable():
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValidationError(
            field, value, "unknown time zone (give an IANA name such as Asia/Tokyo, or UTC)"
        ) from None


def parse_lock_timeout(value: int | str, field: str = "lock-timeout") -> int:
    """Seconds a writer waits for another writer's lock: 0..``MAX_LOCK_TIMEOUT_S``."""
    return parse_int(field, value, 0, MAX_LOCK_TIMEOUT_S, "a number of seconds")
