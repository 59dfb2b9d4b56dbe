"""``op25b switch``: register the OpenFlow switches op25b programs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import ROLE_EDGE, ROLES

if TYPE_CHECKING:
    from op25b_app.service import PolicyService, SwitchView


def register(tree: CommandTree) -> None:
    """Add ``switch add|set|list|remove``."""
    sw = tree.group("switch", summary("switch"), "op25b switch list")
    cmd = tree.command(
        sw,
        "add",
        _add,
        "register a switch",
        "op25b switch add --dpid 0x1 --name edge1 --uplink 1 --uplink 2",
    )
    cmd.add_argument("--dpid", required=True, help="datapath id, decimal or 0x-hex")
    cmd.add_argument("--name", required=True)
    cmd.add_argument(
        "--uplink",
        action="append",
        default=[],
        metavar="PORT",
        help="core-facing port, never blocked (repeatable)",
    )
    cmd.add_argument(
        "--role",
        choices=ROLES,
        default=ROLE_EDGE,
        help="edge: subscribers attach here; core: pass everything",
    )
    _table_options(cmd)
    cmd = tree.command(
        sw,
        "set",
        _set,
        "change a switch's flow-table capacity or compact rendering",
        "op25b switch set 0x1 --capacity 2000 --compact",
    )
    cmd.add_argument("dpid", help="datapath id, decimal or 0x-hex")
    _table_options(cmd)
    tree.command(sw, "list", _list, "list switches", "op25b switch list --json", mode="read")
    cmd = tree.command(
        sw,
        "remove",
        _remove,
        "forget a switch (no attachments may remain)",
        "op25b switch remove 0x1",
    )
    cmd.add_argument("dpid", help="datapath id, decimal or 0x-hex")


def _table_options(cmd: argparse.ArgumentParser) -> None:
    """``--capacity`` and ``--compact``: what the switch's flow table can hold."""
    cmd.add_argument(
        "--capacity",
        metavar="N",
        help="flow entries the switch holds (IPv6 entries count double by default); writes "
        "that would need more are refused; 'none' = no limit",
    )
    cmd.add_argument(
        "--compact",
        action=argparse.BooleanOptionalAction,
        help="no entry per blocked subscriber (the default drop blocks them): far fewer "
        "entries, counters per port instead of per subscriber",
    )


def _add(service: PolicyService, args: argparse.Namespace) -> SwitchView:
    return service.add_switch(args.dpid, args.name, args.uplink, args.role,
                              capacity=args.capacity, compact=bool(args.compact))


def _set(service: PolicyService, args: argparse.Namespace) -> SwitchView:
    from op25b_app.service import UNCHANGED

    return service.set_switch(
        args.dpid,
        capacity=UNCHANGED if args.capacity is None else args.capacity,
        compact=UNCHANGED if args.compact is None else args.compact,
    )


def _list(service: PolicyService, _args: argparse.Namespace) -> list[SwitchView]:
    return service.list_switches()


def _remove(service: PolicyService, args: argparse.Namespace) -> Output:
    view = service.remove_switch(args.dpid)
    return Output(f"removed switch {view.name} (dpid {view.dpid:#x})", view)
