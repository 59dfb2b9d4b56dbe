"""``op25b policy show``: the flow entries a switch should hold, from the database.

Standard output is exactly the entries, one per line in ``ovs-ofctl
dump-flows`` notation, so it can be diffed against the switch. The
entries depend on the options of the controller serving the switch (table,
priorities, pass action), so which options were used goes to stderr, where
it cannot spoil the diff; ``--json`` carries it as ``options_from``.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import PolicyPreview, PolicyService

log = logging.getLogger(__name__)


def register(tree: CommandTree) -> None:
    """Add ``policy show``."""
    po = tree.group("policy", summary("policy"), "op25b policy show --dpid 1")
    cmd = tree.command(
        po,
        "show",
        _show,
        "print the flow entries a switch should hold",
        "op25b policy show --dpid 0x1 --at 2026-12-31T00:00+09:00",
        mode="read",
    )
    cmd.add_argument("--dpid", required=True, help="datapath id, decimal or 0x-hex")
    cmd.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="compile for this time (ISO 8601 with offset); default: now",
    )


def _show(service: PolicyService, args: argparse.Namespace) -> Output:
    preview = service.policy_preview(args.dpid, args.at)
    log.info(
        "dpid %#x at revision %d: %d entries, next change %s",
        preview.dpid,
        preview.revision,
        len(preview.entries),
        "never" if preview.next_change is None else preview.next_change.isoformat(),
    )
    text = "\n".join(str(entry) for entry in preview.entries)
    return Output(text, preview.to_dict(), note=options_note(preview))


def options_note(preview: PolicyPreview) -> str:
    """The stderr line saying whose options rendered the entries."""
    rendered = f"op25b: policy for dpid {preview.dpid:#x} at revision {preview.revision} rendered"
    if preview.options_from is None:
        note = (f"{rendered} with op25b's default options "
                "(no controller has reported options for this switch)")
    else:
        note = f"{rendered} with the options of controller {preview.options_from}"
    if preview.quarantined:
        note += (f"\nop25b: {len(preview.quarantined)} stored row(s) quarantined (left out, "
                 f"failing closed); the first: {preview.quarantined[0]}")
    return note
