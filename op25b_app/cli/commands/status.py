"""``op25b status``: what each controller wrote into the database about each switch.

Read from the database rather than asked of a controller, so it answers
while a controller restarts and shows every controller sharing the database.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output, table, when
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import PolicyService


def register(tree: CommandTree) -> None:
    """Add ``status`` (a command without actions)."""
    tree.single(
        "status",
        _status,
        summary("status"),
        "Connected switches, revision applied vs the database's, entries, fragment "
        "handling (nx-match wanted: otherwise every TCP first fragment from customers "
        "is dropped), last error, as the controllers wrote them into the database.",
        "op25b status --json",
        mode="read",
    )


def _status(service: PolicyService, _args: argparse.Namespace) -> Output:
    data = service.status()
    return Output(status_text(data), data)


def quarantine_lines(quarantine: dict[str, Any] | None) -> list[str]:
    """The rows a controller left out: each names what to fix."""
    if not quarantine:
        return []
    lines = [f"  QUARANTINED at revision {quarantine.get('revision')}: "
             f"{quarantine.get('total')} row(s) left out, their part fails closed"]
    for row in quarantine.get("rows") or []:
        lines.append(f"    table '{row.get('table')}' row {row.get('row')} field "
                     f"'{row.get('field')}' value '{row.get('value')}': {row.get('reason')}")
    shown = len(quarantine.get("rows") or [])
    total = quarantine.get("total")
    if isinstance(total, int) and total > shown:
        lines.append(f"    ... and {total - shown} more")
    return lines


def status_text(data: dict[str, Any]) -> str:
    """The policy revision, one line per controller, then a table of switches."""
    lines = [f"policy revision in database: {data['policy_revision']}"]
    for c in data["controllers"]:
        bad = f", REJECTED revision {c['bad_revision']}: {c['bad_reason']}" \
            if c["bad_revision"] is not None else ""
        lines.append(f"controller {c['controller_id']} (pid {c['pid']}): revision "
                     f"{c['revision_loaded']} loaded, heartbeat {when(c['heartbeat_at'])}{bad}")
        lines.extend(quarantine_lines(c.get("quarantine")))
    if not data["switches"]:
        lines.append("no switch has been reported by a controller")
        return "\n".join(lines)
    lines.append(table(
        ["DPID", "NAME", "CONTROLLER", "CONNECTED", "SINCE", "REVISION", "ENTRIES",
         "FRAGMENTS", "ERROR"],
        [[f"{s['dpid']:#x}", s["name"] or "(unregistered)", s["controller_id"],
          "yes" if s["connected"] else "no",
          when(s["connected_since"]) if s["connected_since"] else "-",
          "-" if s["revision_applied"] is None else str(s["revision_applied"]),
          str(s["entries"]), s["fragment_mode"] or "-", s["last_error"] or "-"]
         for s in data["switches"]],
    ))
    return "\n".join(lines)
