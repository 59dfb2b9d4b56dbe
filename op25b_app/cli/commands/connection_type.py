"""``op25b type``: connection types, which decide whether OP25B applies to a line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from op25b_app.cli.commands import summary
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import ConnectionTypeView, PolicyService


def register(tree: CommandTree) -> None:
    """Add ``type add|list``."""
    ty = tree.group("type", summary("type"), "op25b type list")
    cmd = tree.command(
        ty,
        "add",
        _add,
        "define a connection type",
        "op25b type add ftth --blocked --description 'Fibre to the home'",
    )
    cmd.add_argument("name")
    mode = cmd.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--blocked", dest="blocked", action="store_true", help="OP25B applies (always-on lines)"
    )
    mode.add_argument(
        "--exempt", dest="blocked", action="store_false", help="OP25B does not apply (e.g. dial-up)"
    )
    cmd.add_argument("--description", default="")
    tree.command(ty, "list", _list, "list connection types", "op25b type list", mode="read")


def _add(service: PolicyService, args: argparse.Namespace) -> ConnectionTypeView:
    return service.add_connection_type(args.name, args.blocked, args.description)


def _list(service: PolicyService, _args: argparse.Namespace) -> list[ConnectionTypeView]:
    return service.list_connection_types()
