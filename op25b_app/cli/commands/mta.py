"""``op25b mta``: the ISP's own mail relays, to which TCP/25 always passes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import limits

if TYPE_CHECKING:
    from op25b_app.service import MtaView, PolicyService


def register(tree: CommandTree) -> None:
    """Add ``mta add|list|remove``."""
    mt = tree.group("mta", summary("mta"), "op25b mta list")
    cmd = tree.command(
        mt, "add", _add, "register an MTA with its prefixes",
        "op25b mta add --name relay1 --prefix 192.0.2.25/32 --prefix 2001:db8:25::25/128",
    )
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--prefix", required=True, action="append", dest="prefixes",
                     metavar="PREFIX",
                     help=f"an address or prefix of the relay (repeatable, at most "
                          f"{limits.MAX_MTA_PREFIXES})")
    cmd.add_argument("--wide", action="store_true",
                     help=f"accept prefixes shorter than /{limits.MTA_WIDE_IPV4_PREFIXLEN} "
                          f"(IPv4) or /{limits.MTA_WIDE_IPV6_PREFIXLEN} (IPv6): TCP/25 then "
                          "passes to all of them (recorded as such in the audit trail)")
    tree.command(mt, "list", _list, "list MTAs (one line per prefix)", "op25b mta list",
                 mode="read")
    cmd = tree.command(mt, "remove", _remove, "forget an MTA and all its prefixes",
                       "op25b mta remove relay1")
    cmd.add_argument("name")


def _add(service: PolicyService, args: argparse.Namespace) -> list[MtaView]:
    return service.create_mta(args.name, args.prefixes, allow_wide=args.wide)


def _list(service: PolicyService, _args: argparse.Namespace) -> list[MtaView]:
    return service.list_mtas()


def _remove(service: PolicyService, args: argparse.Namespace) -> Output:
    views = service.delete_mta(args.name)
    return Output(f"removed MTA {args.name} ({', '.join(v.prefix for v in views)})", views)
