"""``op25b enforcement``: monitor before enforcing, and the announced start time."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output, when
from op25b_app.cli.parser import CommandTree
from op25b_app.service import ValidationError

if TYPE_CHECKING:
    from op25b_app.service import PolicyService


def register(tree: CommandTree) -> None:
    """Add ``enforcement show|set``."""
    en = tree.group("enforcement", summary("enforcement"), "op25b enforcement show")
    tree.command(en, "show", _show, "show the global and per-switch settings",
                 "op25b enforcement show --json", mode="read")
    cmd = tree.command(
        en, "set", _set,
        "set the mode (monitor: TCP/25 passes but is counted), optionally with a start time",
        "op25b enforcement set --mode monitor --at 2007-12-12T00:00+09:00",
    )
    cmd.add_argument("--mode", choices=["enforce", "monitor", "inherit"], default=None,
                     help="inherit: a switch follows the global setting again")
    cmd.add_argument("--at", default=None, metavar="TIME",
                     help="enforce from this time on (monitor until then)")
    cmd.add_argument("--no-at", action="store_true", help="remove the start time")
    cmd.add_argument("--dpid", default=None, help="one switch instead of the global setting")


def _text(data: dict[str, Any]) -> str:
    g = data["global"]
    lines = [f"global: {g['mode']}"
             + (f", enforce from {when(g['enforce_at'])}" if g["enforce_at"] else "")]
    for sw in data["switches"]:
        lines.append(f"switch {sw['name']} ({sw['dpid']:#x}): {sw['mode'] or 'enforce'}"
                     + (f", enforce from {when(sw['enforce_at'])}" if sw["enforce_at"] else ""))
    return "\n".join(lines)


def _show(service: PolicyService, _args: argparse.Namespace) -> Output:
    data = service.show_enforcement()
    return Output(_text(data), data)


def _set(service: PolicyService, args: argparse.Namespace) -> Output:
    if args.mode is None and args.at is None and not args.no_at:
        raise ValidationError("mode", None, "give --mode, --at or --no-at")
    data = service.set_enforcement(args.mode, args.at, args.dpid, clear_at=args.no_at)
    return Output(_text(data), data)
