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
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from op25b_app.service.import_records import RECORD_FIELDS, ImportProblem, SubscriberRecord

log = logging.getLogger(__name__)

#: The documented columns, in the order ``write_records`` writes them.
COLUMNS: tuple[str, ...] = RECORD_FIELDS
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
            if order is _IDENTITY_ORDER:
                records.append(SubscriberRecord.from_values(row, line))
            else:
                row.append("")  # index ``width``: what an absent optional column reads
                records.append(SubscriberRecord.from_values([row[i] for i in order], line))
    except csv.Error as error:
        problems.append(ImportProblem(reader.line_num, "line", "", f"malformed CSV: {error}"))
    except UnicodeDecodeError as error:
        problems.append(
            ImportProblem(last_line + 1, "file", "", f"not UTF-8 text (byte {error.start} of a "
                          "read block is invalid); save the file as UTF-8")
        )
    if order is None and not problems:
        problems.append(ImportProblem(1, "header", "", "file is empty; expected a header line: "
                                      + ",".join(COLUMNS)))
    log.debug("read %d record(s), %d bad line(s)", len(records), len(problems))
    return records, problems


def read_file(path: str | Path) -> tuple[list[SubscriberRecord], list[ImportProblem]]:
    """``read_records`` of a file (UTF-8, optional byte-order mark)."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        return read_records(stream)


def write_records(stream: TextIO, records: Iterable[SubscriberRecord]) -> int:
    """Write the header and ``records``; returns how many records were written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for record in records:
        writer.writerow(record.values())
        count += 1
    return count


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
