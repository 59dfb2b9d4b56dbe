"""Checks of stored values, and the quarantine of the rows that fail them.

The snapshot loader reads raw column values (no driver-side conversion) and
checks each one here, so a malformed value names its table, row, field and
value. A failing row is quarantined, not fatal: see ``db.snapshot_loader``
for what each kind of bad row falls back to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import netaddr

from op25b_app.core.prefixes import IPV4_MAPPED, plain_prefix
from op25b_app.core.snapshot import AttachmentRule, QuarantinedRow
from op25b_app.db.models import as_utc, carries_from_db


class SnapshotError(RuntimeError):
    """A stored row the compiler must not be given; names the culprit exactly."""

    def __init__(self, table: str, row_id: object, field: str, value: object, reason: str) -> None:
        self.table = table
        self.row_id = row_id
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(table, row_id, field, value, reason)

    def __str__(self) -> str:
        return (
            f"table '{self.table}' row {self.row_id} field '{self.field}' "
            f"value '{self.value}': {self.reason}"
        )


class Quarantine:
    """Collects the rows left out of one load, and the places that must fail closed."""

    def __init__(self) -> None:
        self.rows: list[QuarantinedRow] = []
        self._seen: set[tuple[str, str, str]] = set()
        #: dpid -> ports whose exemptions are suspended (None: the whole switch).
        self.closed: dict[int, set[int | None]] = {}

    def add(self, error: SnapshotError) -> None:
        key = (error.table, str(error.row_id), error.field)
        if key not in self._seen:
            self._seen.add(key)
            self.rows.append(QuarantinedRow(error.table, str(error.row_id)[:64], error.field,
                                            repr_value(error.value), error.reason))

    def close(self, dpid: int, port: int | None) -> None:
        self.closed.setdefault(dpid, set()).add(port)

    def apply(self, attachments: dict[int, list[AttachmentRule]]) -> None:
        """Suspend the exemptions of the closed places (a block can never open)."""
        for dpid, ports in self.closed.items():
            rules = attachments.get(dpid, [])
            for index, rule in enumerate(rules):
                if None in ports or rule.port in ports:
                    rules[index] = fail_closed(rule)


def repr_value(value: Any) -> str:
    """A stored value as bounded text for logs, status and the API (raw SQL can
    store a megabyte, or bytes that are not text)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."


def fail_closed(rule: AttachmentRule) -> AttachmentRule:
    return dataclasses.replace(rule, type_blocked=True, exempt=False, exempt_until=None)


def carries_parser(quarantine: Quarantine) -> Callable[[int, Any], frozenset[str]]:
    """A parser of ``attachments.carries`` that checks each distinct stored text once.

    Nearly every row holds NULL and the rest a handful of distinct lists, so
    150k rows cost 150k dict lookups. Anything but a comma list of known kinds
    (``carries_from_db``) is quarantined and counts as none carried: a kind
    the compiler does not know would pass nothing while the operator believes
    it passes, and dropping the encapsulation fails closed.
    """
    known: dict[Any, frozenset[str]] = {None: frozenset()}

    def parse(row_id: int, text: Any) -> frozenset[str]:
        kinds = known.get(text)
        if kinds is None:
            try:
                kinds = known[text] = carries_from_db(text)
            except ValueError as error:
                quarantine.add(SnapshotError("attachments", row_id, "carries", text, str(error)))
                return frozenset()
        return kinds

    return parse


def prefix_parser(table: str) -> Callable[[int, Any], netaddr.IPNetwork]:
    """A parser insisting on the canonical form the service layer stores.

    A non-canonical prefix (host bits set, upper-case hex, netmask notation)
    means the row bypassed the service layer, and then the match_key
    uniqueness guarantee may not hold either; reject rather than guess.

    Stored text that is already canonical takes the fast path of
    ``prefixes.plain_prefix`` (150k prefixes through netaddr would take longer
    than the rest of the load); netaddr decides everything else.
    """

    def parse(row_id: int, text: Any) -> netaddr.IPNetwork:
        fast = plain_prefix(text) if text.__class__ is str else None
        if fast is not None and fast[1] == text:
            return fast[0]
        try:
            network = netaddr.IPNetwork(text)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise SnapshotError(
                table, row_id, "prefix", text, "not a valid IPv4/IPv6 prefix"
            ) from None
        if network.value != network.first or str(network) != text:
            raise SnapshotError(
                table, row_id, "prefix", text, f"not in canonical form (expected {network.cidr})"
            )
        if network.version == 6 and network in IPV4_MAPPED:
            raise SnapshotError(table, row_id, "prefix", text, "IPv4-mapped IPv6 prefix")
        return network

    return parse


def check_int(table: str, row_id: object, field: str, value: Any, low: int, high: int) -> int:
    if value.__class__ is not int:
        raise SnapshotError(table, row_id, field, value, "not an integer")
    if not low <= value <= high:
        raise SnapshotError(table, row_id, field, value, f"out of range {low}..{high}")
    return int(value)


def check_bool(table: str, row_id: object, field: str, value: Any) -> bool:
    # SQLite stores booleans as 0/1; PostgreSQL returns real bools.
    if value is True or value is False:
        return value
    if value.__class__ is int and value in (0, 1):
        return bool(value)
    raise SnapshotError(table, row_id, field, value, "not a boolean (0/1)")


def check_time(table: str, row_id: object, field: str, value: Any) -> dt.datetime | None:
    try:
        return as_utc(value)
    except (ValueError, TypeError):
        raise SnapshotError(table, row_id, field, value, "not an ISO 8601 time") from None


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """What an attachment or a session takes from its subscriber (checked once each)."""

    account: str
    type_name: str
    type_blocked: bool
    exempt: bool
    exempt_until: dt.datetime | None

    @property
    def plainly_exempt(self) -> bool:
        """Port 25 passes whatever the time: leaving such a row out can only close."""
        return not self.type_blocked or (self.exempt and self.exempt_until is None)


#: The type name shown for a subscriber whose type cannot be known.
UNKNOWN_TYPE = "(unknown)"


def subscriber_facts(subscriber_id: int, account: str, type_id: Any, exempt: Any,
                     exempt_until: Any, types: dict[int, tuple[str, bool]],
                     quarantine: Quarantine, *, keep_type_name: bool = True) -> SubscriberFacts:
    """A subscriber row's facts; a bad type, flag or expiry makes it blocked (fail closed).

    The bad row is quarantined. ``keep_type_name``: a row whose flag or expiry
    is bad still shows its (known) type's name; without it, ``UNKNOWN_TYPE``.
    """
    try:
        if type_id not in types:
            raise SnapshotError("subscribers", subscriber_id, "type_id", type_id, "no such type")
        type_name, type_blocked = types[type_id]
        return SubscriberFacts(account, type_name, type_blocked,
                               check_bool("subscribers", subscriber_id, "exempt", exempt),
                               check_time("subscribers", subscriber_id, "exempt_until",
                                          exempt_until))
    except SnapshotError as error:
        quarantine.add(error)
        name = types[type_id][0] if keep_type_name and type_id in types else UNKNOWN_TYPE
        return SubscriberFacts(account, name, True, False, None)
