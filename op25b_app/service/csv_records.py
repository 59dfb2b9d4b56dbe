"""The subscriber CSV file format: read records with their line numbers, write them back.

Only the file format lives here (header, quoting, encoding, line numbers);
what a field may contain is decided by the service layer
(``op25b_app.service.bulk_import`` and the ``import_*`` modules behind it), so a
CSV import and a REST import can never accept different things.

Format: UTF-8 (a byte-order mark, as Excel writes it, is accepted), comma
separated, RFC 4180 quoting, a header line naming every column of
``COLUMNS`` once, in any order. Blank lines are ignored. The columns must all
be present because an import sets each account to exactly what the file says:
a file silently missing ``exempt`` would end every opt-out in it. The one
exception is a column added after files were exported without it
(``OPTIONAL_COLUMNS``): such a file still imports, with that column's cells
empty, which is what it meant when it was written.

Bytes that are not UTF-8 do not stop the reader: they reach the records as
Python's stand-ins (surrogateescape) and the import refuses each such cell
naming its line and field, as it refuses any other bad cell; so the line is
the right one and a dry run says exactly what the import would.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (``=HYPERLINK(...)`` in a customer's name is an
attack on whoever opens the export). ``write_records`` puts an apostrophe
before such a cell (after any apostrophes it already starts with) and
``read_records`` takes exactly that one apostrophe away again, so an export
re-imports unchanged and a name that starts with "'" stays as it is.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, TextIO

from op25b_app.service.import_records import RECORD_FIELDS, ImportProblem, SubscriberRecord

log = logging.getLogger(__name__)

#: The documented columns, in the order ``write_records`` writes them.
COLUMNS: tuple[str, ...] = RECORD_FIELDS
#: What makes a spreadsheet read a cell as a formula (see the module docstring).
FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})
_ESCAPED_STARTS = FORMULA_STARTS | {"'"}
#: Columns a header may leave out: added later, empty meaning what files
#: exported before them meant (``carries``: no carried encapsulations).
OPTIONAL_COLUMNS: frozenset[str] = frozenset({"carries"})


def read_records(stream: TextIO) -> tuple[list[SubscriberRecord], list[ImportProblem]]:
    """Every record of a CSV stream, plus the lines that could not be made records.

    A bad header makes the rest unreadable, so it is the only problem
    reported then. A line with the wrong number of fields is reported and
    skipped; the caller passes these problems to the import, which reports
    them together with every other bad line.
    """
    records: list[SubscriberRecord] = []
    problems: list[ImportProblem] = []
    reader = csv.reader(stream, strict=True)
    order: list[int] | None = None
    width = 0
    last_line = 0
    try:
        for row in reader:
            line = last_line + 1
            last_line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if order is None:
                order, header_problems = _header(row, line)
                if header_problems:
                    return [], header_problems
                width = len(row)
                continue
            if len(row) != width:
                problems.append(
                    ImportProblem(line, "line", _clip(",".join(row)),
                                  f"has {len(row)} fields, the header has {width}")
                )
                continue
            for index, cell in enumerate(row):
                if cell[:1] == "'":
                    row[index] = from_spreadsheet(cell)
            if order is _IDENTITY_ORDER:
                records.append(SubscriberRecord.from_values(row, line))
            else:
                row.append("")  # index ``width``: what an absent optional column reads
                records.append(SubscriberRecord.from_values([row[i] for i in order], line))
    except csv.Error as error:
        problems.append(ImportProblem(reader.line_num, "line", "", f"malformed CSV: {error}"))
    except UnicodeDecodeError as error:
        # Only a stream decoded strictly by its caller: ``read_file`` and
        # ``read_binary`` hand undecodable bytes on, for the import to name.
        problems.append(
            ImportProblem(last_line + 1, "file", "", f"not UTF-8 text at or after this line "
                          f"({error.reason}); save the file as UTF-8")
        )
    if order is None and not problems:
        problems.append(ImportProblem(1, "header", "", "file is empty; expected a header line: "
                                      + ",".join(COLUMNS)))
    log.debug("read %d record(s), %d bad line(s)", len(records), len(problems))
    return records, problems


def read_file(path: str | Path) -> tuple[list[SubscriberRecord], list[ImportProblem]]:
    """``read_records`` of a file (UTF-8, optional byte-order mark)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        return read_records(stream)


def read_binary(stream: BinaryIO) -> tuple[list[SubscriberRecord], list[ImportProblem]]:
    """``read_records`` of a byte stream (standard input), decoded as ``read_file`` does.

    Standard input's own text layer decodes with the locale's rules (under
    the C locale it passes bad bytes on, under UTF-8 it stops at them), so
    the bytes are decoded here, the one way a file is.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        return read_records(text)
    finally:
        text.detach()  # the caller owns the byte stream


def write_records(stream: TextIO, records: Iterable[SubscriberRecord]) -> int:
    """Write the header and ``records``; returns how many records were written.

    Cells a spreadsheet would run as formulas are neutralised (``to_spreadsheet``).
    """
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for record in records:
        writer.writerow([to_spreadsheet(cell) for cell in record.values()])
        count += 1
    return count


def to_spreadsheet(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text, never runs it (module docstring)."""
    if cell[:1] in _ESCAPED_STARTS and cell.lstrip("'")[:1] in FORMULA_STARTS:
        return "'" + cell
    return cell


def from_spreadsheet(cell: str) -> str:
    """Undo ``to_spreadsheet``: one apostrophe before a formula start goes."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in FORMULA_STARTS:
        return cell[1:]
    return cell


_IDENTITY_ORDER: list[int] = list(range(len(COLUMNS)))


def _header(row: list[str], line: int) -> tuple[list[int], list[ImportProblem]]:
    """Map the header's columns onto ``COLUMNS``; problems unless it names each once
    (an optional one at most once)."""
    names = [cell.strip().lower() for cell in row]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]
    problems = []
    for index, name in enumerate(names):
        if name not in COLUMNS:
            problems.append(ImportProblem(line, "header", row[index],
                                          f"unknown column (columns: {','.join(COLUMNS)})"))
        elif names.index(name) != index:
            problems.append(ImportProblem(line, "header", row[index], "column named twice"))
    for name in COLUMNS:
        if name not in names and name not in OPTIONAL_COLUMNS:
            problems.append(ImportProblem(line, "header", name, "column missing"))
    if problems:
        return [], problems
    # An absent optional column reads the empty cell the reader appends at len(names)
    # (so a header missing only the last column maps like the identity, but is not it).
    order = [names.index(name) if name in names else len(names) for name in COLUMNS]
    identity = order == _IDENTITY_ORDER and len(names) == len(COLUMNS)
    return (_IDENTITY_ORDER if identity else order), []


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
