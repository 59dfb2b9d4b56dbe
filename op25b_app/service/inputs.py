"""Parsing and checking of every input field, with errors that name field and value.

One definition for each kind of input (datapath ids, ports, VLANs, prefixes,
carried encapsulations, times, spans, time zones, names), shared by the single writes, the bulk
import, the CLI and the REST API, so the same cell gets the same verdict and
the same message whichever way it arrives.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable

import netaddr

from op25b_app.core.constants import ENCAPSULATIONS
from op25b_app.core.limits import MAX_DPID, MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.prefixes import IPV4_MAPPED, plain_prefix
from op25b_app.db.models import carries_to_db
from op25b_app.service.errors import ValidationError

#: Switch and MTA names: identifiers an operator types and every log line prints.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
#: Connection type names: lower-case keys an operator types on the command line.
TYPE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
#: ASCII control characters: never part of a name, and PostgreSQL refuses NUL.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Between the kinds of a carried-encapsulations cell: "mpls,qinq", "mpls qinq".
_CARRIES_SEPARATORS = re.compile(r"[\s,]+")


def parse_int(field: str, value: int | str, low: int, high: int, what: str) -> int:
    """An integer ``low..high`` given as a number or as decimal or 0x-hex text.

    ``bool`` is refused although it is an ``int``: ``true`` for a port is a
    mistake in a JSON body, not port 1.
    """
    if isinstance(value, bool):
        raise ValidationError(field, value, f"not {what}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValidationError(field, value, f"not {what}") from None
    if not low <= number <= high:
        raise ValidationError(field, value, f"out of range {low}..{high}")
    return number


def parse_dpid(value: int | str, field: str = "dpid") -> int:
    """A datapath id: decimal or 0x-hex, 0..2**64-1."""
    return parse_int(field, value, 0, MAX_DPID, "a datapath id (decimal or 0x-hex)")


def parse_port(value: int | str, field: str = "port") -> int:
    """An OpenFlow port number, 1..OFPP_MAX (0xffffff00)."""
    return parse_int(field, value, MIN_PORT, MAX_PORT, "a port number")


def parse_vlan(value: int | str | None, field: str = "vlan") -> int | None:
    """A VLAN id 0..4095, or None for untagged-or-any."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "*")):
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
    if value.__class__ is str:
        fast = plain_prefix(value.strip())
        if fast is not None:
            return fast
    network = _slow_prefix(value, field)
    return network, str(network)


def _slow_prefix(value: str, field: str) -> netaddr.IPNetwork:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix")
    try:
        network = netaddr.IPNetwork(value.strip()).cidr
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(field, value, "not a valid IPv4/IPv6 prefix") from None
    if network.version == 6 and network in IPV4_MAPPED:
        raise ValidationError(
            field, value, "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"
        )
    return network


def parse_attach_point(value: str, field: str = "attach") -> tuple[int, int, int | None]:
    """``DPID:PORT[:VLAN]`` (dpid decimal or 0x-hex) -> (dpid, port, vlan)."""
    parts = value.strip().split(":") if isinstance(value, str) else []
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
    """An ISO 8601 time, returned in UTC.

    With an explicit offset ('Z' or +09:00) it means exactly that. Without
    one it is a wall-clock time in ``tz`` (the configured zone); with no zone
    configured it is rejected, because whether '2026-12-31T00:00' means JST
    or UTC decides when a customer's mail starts bouncing. A wall-clock time
    that a daylight-saving change skips or repeats is rejected too.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                field, value, "not an ISO 8601 time (e.g. 2026-12-31T00:00+09:00)"
            ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if tz is None:
            raise ValidationError(field, value, "needs an explicit UTC offset, e.g. +09:00 or Z")
        parsed = _localize(parsed.replace(tzinfo=None), tz, field, value)
    return _as_utc(parsed, field, value)


def _as_utc(parsed: dt.datetime, field: str, value: object) -> dt.datetime:
    """``parsed`` in UTC; a time whose UTC falls outside years 1..9999 is bad input, not a crash."""
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(field, value, "is out of range once converted to UTC") from None


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


_SPAN_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_span(value: str, field: str = "window") -> dt.timedelta:
    """A duration such as 30m, 12h, 7d or 2w (s, m, h, d, w); zero is refused."""
    match = _SPAN_RE.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValidationError(field, value, "not a span such as 30m, 12h, 7d or 2w")
    return dt.timedelta(seconds=int(match.group(1)) * _SPAN_UNITS[match.group(2)])


def parse_since(
    value: str | dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None, field: str = "since"
) -> dt.datetime:
    """A time (as ``parse_time``) or a span back from ``now``: 30m, 12h, 7d, 2w."""
    if isinstance(value, str) and _SPAN_RE.match(value.strip().lower()):
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
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            field, value, "unknown time zone (give an IANA name such as Asia/Tokyo, or UTC)"
        ) from None


def check_no_control(field: str, value: str) -> str:
    """Refuse control characters: they hide in logs and PostgreSQL refuses NUL."""
    if CONTROL_RE.search(value):
        raise ValidationError(field, value, "contains control characters")
    return value


def check_text(field: str, value: str, max_len: int, pattern: re.Pattern[str] | None) -> str:
    """A required one-line name or key: not blank, no surrounding whitespace,
    at most ``max_len`` characters, no control characters, matching ``pattern``.

    Surrounding whitespace is refused rather than stripped: an account
    stored as "A1 " would never match the "A1" an operator later types.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "must not be empty")
    if value != value.strip():
        raise ValidationError(field, value, "must not start or end with whitespace")
    if len(value) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    check_no_control(field, value)
    if pattern is not None and not pattern.match(value):
        raise ValidationError(field, value, f"must match {pattern.pattern}")
    return value


def check_free_text(field: str, value: str | None, max_len: int) -> str:
    """Optional free text (a description, a display name); None means empty."""
    text = "" if value is None else value
    if not isinstance(text, str):
        raise ValidationError(field, value, "must be text")
    if len(text) > max_len:
        raise ValidationError(field, value, f"longer than {max_len} characters")
    return check_no_control(field, text)
