"""The records a bulk import exchanges, and what it answers: problems, rejection, result.

A ``SubscriberRecord`` is one attachment point of one subscriber, every
field as text, exactly as a CSV row carries it: a subscriber with several
attachment points has several records with the same account, one with none
a single record with empty dpid and port. Text, not parsed values, so that
every interface hands the import the same thing and gets the same checks.

These types are shared by everything around the import (the CSV format in
``csv_records``, the checks, the writer, the export, and the interfaces
that show a rejection), so they live apart from all of them: each of those
modules depends on this one, and this one on none of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from op25b_app.service.errors import ServiceError, clip

#: The record fields, in the documented CSV column order.
RECORD_FIELDS: tuple[str, ...] = (
    "account",
    "name",
    "type",
    "dpid",
    "port",
    "vlan",
    "prefixes",
    "exempt",
    "exempt_reason",
    "exempt_until",
    "carries",
)

#: ``progress(phase, done, total)``; phases "check" and "write".
ImportProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """One attachment point of one subscriber, every field as text (a CSV row).

    ``line`` says where the record came from (CSV line number), for errors.
    """

    account: str
    name: str = ""
    type: str = ""
    dpid: str = ""
    port: str = ""
    vlan: str = ""
    prefixes: str = ""
    exempt: str = ""
    exempt_reason: str = ""
    exempt_until: str = ""
    #: Encapsulations this attachment point carries on purpose (comma- or
    #: space-separated kinds; empty: none). Last because it came last: a file
    #: written before it existed is this format without its final column.
    carries: str = ""
    line: int | None = None

    @classmethod
    def from_values(cls, values: Sequence[str], line: int | None = None) -> SubscriberRecord:
        """A record from the eleven fields in ``RECORD_FIELDS`` order."""
        return cls(
            values[0], values[1], values[2], values[3], values[4],
            values[5], values[6], values[7], values[8], values[9], values[10], line,
        )

    def values(self) -> tuple[str, ...]:
        """The fields in ``RECORD_FIELDS`` order."""
        return (
            self.account,
            self.name,
            self.type,
            self.dpid,
            self.port,
            self.vlan,
            self.prefixes,
            self.exempt,
            self.exempt_reason,
            self.exempt_until,
            self.carries,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ImportProblem:
    """One bad field of one line: where, which field, what value, why."""

    line: int | None
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = "" if self.line is None else f"line {self.line}: "
        return f"{where}field '{self.field}' value '{clip(self.value)}': {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


class ImportRejected(ServiceError):
    """The import was refused and nothing was written; ``problems`` lists every bad line."""

    def __init__(self, problems: Sequence[ImportProblem], source: str = "") -> None:
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        #: Where the records came from (a file name), for the caller's messages.
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        lines = {p.line for p in self.problems}
        return f"{len(lines)} bad line(s), nothing imported; first: {self.problems[0]}"


@dataclasses.dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed (or, with ``dry_run``, would change)."""

    dry_run: bool
    rows: int
    accounts: int
    added: int
    updated: int
    unchanged: int
    attachments_added: int
    attachments_removed: int
    #: The policy revision after the import (None for a dry run).
    revision: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)
