"""``op25b report``: who sends TCP/25 to non-MTA destinations, for the abuse desk.

``affected`` is the notice list before enforcement starts (counted while
monitored); ``suspects`` lists likely infected hosts afterwards. Both read
the counters the controllers store; the CSV form is for mail-merge tools.
"""

from __future__ import annotations

import argparse
import csv
import io
from typing import TYPE_CHECKING, Any

from op25b_app import service
from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output, table, when
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import PolicyService

_COLUMNS = ["account", "name", "dpid", "packets", "first_seen", "last_seen", "destinations"]


def register(tree: CommandTree) -> None:
    """Add ``report affected|suspects``."""
    rp = tree.group("report", summary("report"),
                    "op25b report suspects --window 1h --threshold 100")
    cmd = tree.command(rp, "affected", _affected,
                       "subscribers counted while monitored: the list to notify before "
                       "enforcement",
                       "op25b report affected --since 2007-11-01T00:00+09:00 --csv", mode="read")
    cmd.add_argument("--since", default=None, metavar="TIME",
                     help="from this time (default: 30 days ago)")
    cmd.add_argument("--csv", action="store_true", help="CSV output")
    cmd = tree.command(rp, "suspects", _suspects,
                       "subscribers whose blocked attempts exceed a threshold: likely infected",
                       "op25b report suspects --window 1h --threshold 100", mode="read")
    cmd.add_argument("--window", default="1h",
                     help="e.g. 30m, 1h, 2d (rounded to hours; at most "
                          f"{service.limits.MAX_SPAN_DAYS} days)")
    cmd.add_argument("--threshold", default="100",
                     help="more blocked packets than this in the window")
    cmd.add_argument("--csv", action="store_true", help="CSV output")


def _affected(service: PolicyService, args: argparse.Namespace) -> Output:
    return _report(service.report_affected(args.since), args.csv)


def _suspects(service: PolicyService, args: argparse.Namespace) -> Output:
    return _report(service.report_suspects(args.window, args.threshold), args.csv)


def _report(rows: list[dict[str, Any]], as_csv: bool) -> Output:
    if as_csv:
        return Output(_csv(rows), rows)
    if not rows:
        return Output("(none)", rows)
    return Output(table([c.upper() for c in _COLUMNS],
                        [[r["account"], r["name"], f"{r['dpid']:#x}", str(r["packets"]),
                          when(r["first_seen"]), when(r["last_seen"]),
                          ", ".join(r["destinations"]) or "-"] for r in rows]), rows)


def _csv(rows: list[dict[str, Any]]) -> str:
    # A destination is "ADDRESS (SAMPLES)" in the table; the CSV keeps the address only.
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for r in rows:
        # A spreadsheet must show an account or name, never run it as a formula.
        writer.writerow([service.to_spreadsheet(str(cell)) for cell in (
            r["account"], r["name"], f"{r['dpid']:#x}", r["packets"], when(r["first_seen"]),
            when(r["last_seen"]), " ".join(d.split(" ")[0] for d in r["destinations"]))])
    return buf.getvalue().rstrip("\n")
