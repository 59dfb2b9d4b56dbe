"""The first half of checking a bulk import: every field of every record, no database.

Each field goes through the service's own parsers and rules, so a cell gets
the verdict it would get from a single write. Checks go on after a failure
and every problem is collected: an operator fixing a 100k-row export from
the billing system needs the whole list at once. What survives is grouped
by account for the checks against stored data (``import_plan``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, TypeVar

import netaddr

from op25b_app.core.limits import MAX_PREFIXES_PER_POINT
from op25b_app.db.models import make_match_key
from op25b_app.service.errors import ServiceError, ValidationError
from op25b_app.service.import_records import RECORD_FIELDS, ImportProblem, SubscriberRecord
from op25b_app.service.inputs import (
    parse_carries,
    parse_dpid,
    parse_port,
    parse_prefix_text,
    parse_time,
    parse_vlan,
    split_carries,
)
from op25b_app.service.rules import check_account, check_exempt_reason, check_subscriber_name
from op25b_app.service.texts import UNDECODED, check_characters

_P = ParamSpec("_P")
_T = TypeVar("_T")

_TRUE = frozenset({"true"})
_FALSE = frozenset({"false", ""})

#: (name, type, exempt, reason, until): the subscriber's own fields of one record.
SubscriberFields = tuple[str, str, bool, str | None, dt.datetime | None]


@dataclasses.dataclass(slots=True)
class ParsedRow:
    """A record whose fields parsed; DB-independent facts only."""

    line: int | None
    record: SubscriberRecord
    #: (dpid, port, vlan), or None for "no attachment".
    point: tuple[int, int, int | None] | None
    #: (network, text as given, canonical text) per prefix; empty means "any source".
    networks: list[tuple[netaddr.IPNetwork, str, str]]
    #: match_key -> (field, value to blame in errors, canonical prefix or None).
    keys: dict[str, tuple[str, str, str | None]]
    #: Storage text of the encapsulations every attachment of the line carries.
    carries: str | None = None

    @classmethod
    def pointless(cls, record: SubscriberRecord) -> ParsedRow:
        """A row with no attachment point (none given, or none that parsed)."""
        return cls(record.line, record, None, [], {})


@dataclasses.dataclass(slots=True)
class AccountGroup:
    """One account of the file, with the subscriber-level fields of its first line."""

    account: str
    line: int | None
    name: str
    type_name: str
    exempt: bool
    reason: str | None
    until: dt.datetime | None
    until_raw: str
    rows: list[ParsedRow]


class Problems:
    """The problems found so far, in the order found."""

    def __init__(self, prior: Iterable[ImportProblem] = ()) -> None:
        self.items: list[ImportProblem] = list(prior)

    def add(self, line: int | None, error: ServiceError | ValidationError) -> None:
        """Record a service error as the problem of ``line``."""
        field = getattr(error, "field", "?")
        value = getattr(error, "value", "")
        reason = getattr(error, "reason", str(error))
        self.items.append(ImportProblem(line, field, "" if value is None else str(value), reason))

    def add_text(self, line: int | None, field: str, value: str, reason: str) -> None:
        """Record a problem the import itself words."""
        self.items.append(ImportProblem(line, field, value, reason))

    def attempt(
        self, line: int | None, parse: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T | None:
        """``parse(*args)``, or None after recording its ``ValidationError`` for ``line``."""
        try:
            return parse(*args, **kwargs)
        except ValidationError as error:
            self.add(line, error)
            return None


def group_records(
    records: Sequence[SubscriberRecord],
    tz: dt.tzinfo | None,
    problems: Problems,
    failed: list[tuple[str, ParsedRow]],
) -> dict[str, AccountGroup]:
    """Parse every record and group them by account (first line's fields win).

    Records whose subscriber fields are bad go to ``failed`` (with their
    attachment, if that parsed) so their database checks still run: the
    operator should learn about every bad field of a line in one go.
    """
    accounts: dict[str, AccountGroup] = {}
    for record in records:
        line = record.line
        if UNDECODED.search("".join(record.values())):
            _refuse_undecoded(record, problems)
            continue
        account = problems.attempt(line, check_account, record.account) or ""
        fields = _parse_subscriber_fields(record, tz, problems)
        row = _parse_point(record, problems)
        if fields is None or not account:
            failed.append((account, row if row is not None else ParsedRow.pointless(record)))
            continue
        name, type_name, exempt, reason, until = fields
        group = accounts.get(account)
        if group is None:
            group = AccountGroup(account, line, name, type_name, exempt, reason, until,
                                 record.exempt_until, [])
            accounts[account] = group
        else:
            _check_same_subscriber(group, record, fields, problems)
        if row is not None:
            group.rows.append(row)
    return accounts


def _refuse_undecoded(record: SubscriberRecord, problems: Problems) -> None:
    """Each field of ``record`` holding bytes that were not UTF-8, as a problem of its line."""
    for field, value in zip(RECORD_FIELDS, record.values(), strict=True):
        if UNDECODED.search(value):
            problems.attempt(record.line, check_characters, field, value)


def _check_same_subscriber(
    group: AccountGroup,
    record: SubscriberRecord,
    fields: SubscriberFields,
    problems: Problems,
) -> None:
    """Rows of one account must agree on the subscriber's own fields."""
    first = (group.name, group.type_name, group.exempt, group.reason, group.until)
    raw = {
        "name": record.name,
        "type": record.type,
        "exempt": record.exempt,
        "exempt_reason": record.exempt_reason,
        "exempt_until": record.exempt_until,
    }
    for field, mine, theirs in zip(raw, fields, first, strict=True):
        if mine != theirs:
            problems.add_text(
                record.line,
                field,
                raw[field],
                f"differs from line {group.line} of account '{group.account}' "
                f"('{'' if theirs is None else theirs}')",
            )


def _parse_exempt(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError("exempt", value, "must be true or false")


def _parse_subscriber_fields(
    record: SubscriberRecord, tz: dt.tzinfo | None, problems: Problems
) -> SubscriberFields | None:
    """(name, type, exempt, reason, until) of a record, or None after recording problems."""
    line = record.line
    found = len(problems.items)
    name = problems.attempt(line, check_subscriber_name, record.name)
    type_name = record.type.strip()
    if not type_name:
        problems.add_text(line, "type", record.type, "must not be empty")
    exempt = problems.attempt(line, _parse_exempt, record.exempt)
    reason: str | None = None
    until: dt.datetime | None = None
    if exempt is None:
        pass  # whether reason/until are allowed depends on it: nothing more to say
    elif exempt:
        reason = problems.attempt(line, check_exempt_reason, "exempt_reason",
                                  record.exempt_reason)
        if record.exempt_until.strip():
            until = problems.attempt(line, parse_time, record.exempt_until, "exempt_until", tz)
    else:
        for field, value in (
            ("exempt_reason", record.exempt_reason),
            ("exempt_until", record.exempt_until),
        ):
            if value.strip():
                problems.add_text(line, field, value, "only allowed with exempt=true")
    if len(problems.items) > found or name is None:
        return None
    return name, type_name, bool(exempt), reason, until


def _parse_point(record: SubscriberRecord, problems: Problems) -> ParsedRow | None:
    """The attachment part of a record, or None after recording problems."""
    line = record.line
    if not record.dpid.strip() and not record.port.strip():
        for field, value in (("vlan", record.vlan), ("prefixes", record.prefixes),
                             ("carries", record.carries)):
            if value.strip():
                problems.add_text(line, field, value, "needs a dpid and port")
                return None
        return ParsedRow.pointless(record)
    found = len(problems.items)
    dpid = port = None
    for field, value, other in (("dpid", record.dpid, "port"), ("port", record.port, "dpid")):
        if not value.strip():
            problems.add_text(line, field, value, f"must not be empty when {other} is given")
    if record.dpid.strip():
        dpid = problems.attempt(line, parse_dpid, record.dpid)
    if record.port.strip():
        port = problems.attempt(line, parse_port, record.port)
    vlan = problems.attempt(line, parse_vlan, record.vlan)
    carries = None  # nearly every line: no cell, or an empty one
    if record.carries:
        carries = problems.attempt(line, parse_carries, split_carries(record.carries))
    networks: list[tuple[netaddr.IPNetwork, str, str]] = []
    given = record.prefixes.split()
    if len(given) > MAX_PREFIXES_PER_POINT:
        problems.add_text(line, "prefixes", f"{len(given)} prefixes",
                          f"more than {MAX_PREFIXES_PER_POINT} on one attachment point")
        return None
    for text in given:
        parsed = problems.attempt(line, parse_prefix_text, text, "prefixes")
        if parsed is not None:
            networks.append((parsed[0], text, parsed[1]))
    if len(problems.items) > found or dpid is None or port is None:
        return None
    keys = _match_keys(record, (dpid, port, vlan), networks, problems)
    if len(problems.items) > found:
        return None
    return ParsedRow(line, record, (dpid, port, vlan), networks, keys, carries)


def _match_keys(
    record: SubscriberRecord,
    point: tuple[int, int, int | None],
    networks: list[tuple[netaddr.IPNetwork, str, str]],
    problems: Problems,
) -> dict[str, tuple[str, str, str | None]]:
    """The match key of each attachment the record describes; a prefix twice is a problem."""
    dpid, port, vlan = point
    keys: dict[str, tuple[str, str, str | None]] = {}
    if not networks:
        keys[make_match_key(dpid, port, vlan, None)] = ("port", record.port, None)
    for _network, text, canonical in networks:
        key = make_match_key(dpid, port, vlan, canonical)
        if key in keys:
            problems.add_text(record.line, "prefixes", text, "listed twice")
        keys[key] = ("prefixes", text, canonical)
    return keys
