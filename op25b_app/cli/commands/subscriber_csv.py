"""``op25b subscriber import|export``: subscribers as CSV, all or nothing.

Kept apart from the one-subscriber commands: files, standard input, the
progress line and the atomic write of an export are concerns of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from typing import TYPE_CHECKING

from op25b_app.cli.output import Output, printable
from op25b_app.cli.parser import Actions, CommandTree
from op25b_app.cli.progress import ProgressLine
from op25b_app.service import (
    CSV_COLUMNS,
    ImportRejected,
    ValidationError,
    read_binary,
    read_file,
    write_records,
)

if TYPE_CHECKING:
    from op25b_app.service import ImportResult, PolicyService, SubscriberRecord


def register(tree: CommandTree, su: Actions) -> None:
    """Add ``import`` and ``export`` to the ``subscriber`` group ``su``."""
    cmd = tree.command(
        su,
        "import",
        _import,
        "add or update subscribers from a CSV file, all or nothing",
        "op25b --tz Asia/Tokyo subscriber import subscribers.csv --dry-run",
    )
    cmd.add_argument("file", metavar="FILE.csv", help="CSV file ('-' for standard input)")
    cmd.add_argument(
        "--dry-run", action="store_true", help="check everything, report the changes, write nothing"
    )
    cmd.epilog = (
        f"columns: {','.join(CSV_COLUMNS)}\n"
        "  one line per attachment point; prefixes space-separated; empty vlan/prefixes = any;\n"
        "  exempt true/false; exempt_until ISO 8601 with offset, or in --tz;\n"
        "  carries (optional column): encapsulations the point carries, e.g. 'mpls qinq'.\n"
        "  Accounts in the file get exactly the file's data; other accounts are untouched.\n"
        "  A cell starting with ' before =, +, -, @, tab or CR loses that one ' (export adds\n"
        "  it, so a spreadsheet shows such a cell as text instead of running it).\n"
        f"{cmd.epilog}"
    )
    cmd = tree.command(
        su,
        "export",
        _export,
        "write every subscriber as CSV (the import format)",
        "op25b subscriber export --output subscribers.csv",
        mode="read",
    )
    cmd.add_argument("--output", default=None, metavar="FILE", help="write here (default: stdout)")


def _import(service: PolicyService, args: argparse.Namespace) -> Output:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            # The bytes, decoded as a file is: stdin's own decoding depends on the locale.
            records, problems = read_binary(sys.stdin.buffer)
        else:
            records, problems = read_file(args.file)
    except OSError as error:
        raise ValidationError("file", args.file, error.strerror or str(error)) from None
    progress = ProgressLine(args.err, printable(f"import {source}", keep_newlines=False))
    try:
        result = service.import_subscribers(
            records,
            dry_run=args.dry_run,
            source=source,
            prior_problems=problems,
            progress=progress,
        )
    except ImportRejected as error:
        # main lists every bad line prefixed with the file's name.
        error.source = source
        raise
    finally:
        progress.close()
    return Output(_import_text(source, result), result)


def _import_text(source: str, r: ImportResult) -> str:
    counts = (
        f"{r.added} added, {r.updated} updated, {r.unchanged} unchanged "
        f"({r.rows} line(s), {r.accounts} account(s); "
        f"attachments +{r.attachments_added} -{r.attachments_removed})"
    )
    if r.dry_run:
        return f"dry run of {source}, nothing written: {counts}"
    return f"imported {source}: {counts}; policy revision {r.revision}"


def _export(service: PolicyService, args: argparse.Namespace) -> Output:
    records = service.export_subscribers()
    accounts = len({r.account for r in records})
    summary = {"rows": len(records), "accounts": accounts, "output": args.output}
    if args.output is None:
        if args.json:
            return Output("", [_record_dict(r) for r in records])
        buffer = io.StringIO()
        write_records(buffer, records)
        return Output(buffer.getvalue().rstrip("\n"), summary)
    _write_atomically(args.output, records)
    return Output(f"exported {len(records)} line(s) ({accounts} subscriber(s)) to {args.output}",
                  summary)


def _write_atomically(path: str, records: list[SubscriberRecord]) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    target = os.path.abspath(path)
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as stream:
            write_records(stream, records)
        os.replace(partial, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ValidationError("output", path, error.strerror or str(error)) from None


def _record_dict(record: SubscriberRecord) -> dict[str, str]:
    return dict(zip(CSV_COLUMNS, record.values(), strict=True))
