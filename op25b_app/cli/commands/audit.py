"""``op25b audit``: who changed what, when, newest first."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output, table, when
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import AuditEntryView, PolicyService


def register(tree: CommandTree) -> None:
    """Add ``audit [--account A] [--since TIME] [--limit N]``."""
    cmd = tree.single(
        "audit",
        _audit,
        summary("audit"),
        "Every change made through op25b (CLI, REST API, import) with who made "
        "it, when and the state before and after; policy revisions no entry accounts for "
        "are shown as 'direct SQL (revision X→Y)'.",
        "op25b --tz Asia/Tokyo audit --account A100 --since 7d",
        mode="read",
    )
    cmd.add_argument("--account", default=None, help="only changes of this subscriber account")
    cmd.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="only changes at or after TIME (ISO 8601, or a span back from now: 30m, 12h, 7d)",
    )
    cmd.add_argument(
        "--limit", default="100", metavar="N", help="show at most N entries (0: all)"
    )


def _audit(service: PolicyService, args: argparse.Namespace) -> Output:
    entries = service.audit_log(account=args.account, since=args.since, limit=args.limit)
    if not entries:
        return Output("(no audit entries)", entries)
    return Output(_audit_table(entries), entries)


def _audit_table(entries: list[AuditEntryView]) -> str:
    # An entry found only as a revision step has no exact time: "<=" the
    # time the next known change happened.
    rows = [
        [
            "?" if e.at is None else when(e.at) if e.at_exact else f"<={when(e.at)}",
            e.actor,
            e.action,
            e.entity,
            e.key,
            e.summary,
        ]
        for e in entries
    ]
    return table(["WHEN", "ACTOR", "ACTION", "ENTITY", "KEY", "CHANGE"], rows)
