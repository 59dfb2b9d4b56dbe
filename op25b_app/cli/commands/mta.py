"""``op25b mta``: the ISP's own mail relays, to which TCP/25 always passes."""

from __future__ import annotations

import argparse

from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import MtaView, PolicyService


def register(tree: CommandTree) -> None:
    """Add ``mta add|list|remove``."""
    mt = tree.group("mta", "the ISP's own mail relays (TCP/25 to them passes)", "op25b mta list")
    cmd = tree.command(
        mt, "add", _add, "register an MTA", "op25b mta add --name relay1 --prefix 192.0.2.25/32"
    )
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--prefix", required=True)
    tree.command(mt, "list", _list, "list MTAs", "op25b mta list")
    cmd = tree.command(mt, "remove", _remove, "forget an MTA", "op25b mta remove relay1")
    cmd.add_argument("name")


def _add(service: PolicyService, args: argparse.Namespace) -> MtaView:
    return service.add_mta(args.name, args.prefix)


def _list(service: PolicyService, _args: argparse.Namespace) -> list[MtaView]:
    return service.list_mtas()


def _remove(service: PolicyService, args: argparse.Namespace) -> Output:
    view = service.remove_mta(args.name)
    return Output(f"removed MTA {view.name} ({view.prefix})", view)
