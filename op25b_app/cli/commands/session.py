"""``op25b session``: dynamic subscribers - list, show, add, end, expire, and who had an address.

``who`` is the abuse desk's daily question ("who had 198.51.100.7 at
10:42?"): the session that held the address at that time, from the same
table the RADIUS server and the DHCP hooks write.
"""

from __future__ import annotations

import argparse
import datetime as dt

from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output, table, when
from op25b_app.cli.parser import CommandTree
from op25b_app.service import PolicyService, SessionView, parse_attach_point, parse_span


def register(tree: CommandTree) -> None:
    """Add ``session list|show|add|end|expire|who``."""
    sg = tree.group("session", summary("session"),
                    "op25b session who --address 198.51.100.7 --at 2026-12-01T10:42+09:00")
    cmd = tree.command(sg, "list", _list, "list sessions, newest first",
                       "op25b session list --account BB-0001 --live")
    cmd.add_argument("--account", default=None)
    cmd.add_argument("--address", default=None, help="an address or prefix the session holds")
    cmd.add_argument("--nas", default=None, help="the client (NAS/BNG or DHCP feed) name")
    live = cmd.add_mutually_exclusive_group()
    live.add_argument("--live", dest="live", action="store_const", const=True, default=None,
                      help="only sessions live now")
    live.add_argument("--ended", dest="live", action="store_const", const=False,
                      help="only ended sessions")
    cmd.add_argument("--limit", type=int, default=100)
    cmd.add_argument("--offset", type=int, default=0)
    cmd = tree.command(sg, "show", _show, "one session", "op25b session show 42")
    cmd.add_argument("id", type=int)
    cmd = tree.command(sg, "add", _add, "create or refresh a session by hand (or from a script)",
                       "op25b session add --nas kea1 --session-id 198.51.100.7 "
                       "--account BB-0001 --attach 0x1:5 --address 198.51.100.7 "
                       "--lifetime 1h")
    cmd.add_argument("--nas", required=True, help="the feed's name (e.g. the DHCP server)")
    cmd.add_argument("--session-id", required=True, help="unique per feed (e.g. the lease)")
    cmd.add_argument("--account", required=True)
    cmd.add_argument("--attach", required=True, metavar="DPID:PORT[:VLAN]")
    cmd.add_argument("--address", action="append", default=[],
                     help="IPv4 address or IPv6 prefix (repeatable; a second IPv6 prefix is "
                          "the delegated one)")
    cmd.add_argument("--lifetime", default=None, help="expires by itself after e.g. 1h, 30m")
    cmd = tree.command(sg, "end", _end, "end a live session now", "op25b session end 42")
    cmd.add_argument("id", type=int)
    cmd.add_argument("--reason", default="operator")
    tree.command(sg, "expire", _expire,
                 "end the sessions past their expiry now (the RADIUS server does it itself; "
                 "cron this for DHCP-only feeds)", "op25b session expire")
    cmd = tree.command(sg, "who", _who, "who held an address at a time",
                       "op25b --tz Asia/Tokyo session who --address 198.51.100.7 "
                       "--at 2026-12-01T10:42")
    cmd.add_argument("--address", required=True)
    cmd.add_argument("--at", default=None, help="the time (default: now)")


def _rows(views: list[SessionView]) -> str:
    if not views:
        return "(none)"
    return table(["ID", "ACCOUNT", "NAS", "PLACE", "ADDRESSES", "STARTED", "ENDED", "STATE"],
                 [[str(v.id), v.account + ("" if v.known else " (unknown)"), v.nas,
                   v.place or "-", " ".join(v.addresses) or "-", when(v.started_at),
                   when(v.ended_at) if v.ended_at else "-", "live" if v.live else v.end_reason or "expired"]
                  for v in views])


def _detail(v: SessionView) -> str:
    lines = [
        f"session {v.id}: {v.nas}/{v.acct_session_id} ({v.source})",
        f"  account:    {v.account}" + ("" if v.known else
                                        "  (no such subscriber: blocked, fail closed)"),
        f"  user name:  {v.user_name or '-'}",
        f"  place:      {v.place or '- (no port known: not placed on a switch)'}",
        f"  addresses:  {' '.join(v.addresses) or '-'}",
        f"  started:    {when(v.started_at)}",
        f"  last seen:  {when(v.last_seen)}",
        f"  expires:    {when(v.expires_at)}",
        f"  ended:      {when(v.ended_at)}" + (f" ({v.end_reason})" if v.end_reason else ""),
        f"  state:      {'live' if v.live else 'ended'}",
        f"  entry ids:  {', '.join(f'{i:#x}' for i in v.attachment_ids) or '-'}",
    ]
    return "\n".join(lines)


def _list(service: PolicyService, args: argparse.Namespace) -> Output:
    views, total = service.page_sessions(account=args.account, address=args.address,
                                         nas=args.nas, live=args.live,
                                         limit=max(1, min(args.limit, 10000)),
                                         offset=max(0, args.offset))
    note = f"{len(views)} of {total} session(s)" if total > len(views) else None
    return Output(_rows(views), [v.to_dict() for v in views], note=note)


def _show(service: PolicyService, args: argparse.Namespace) -> Output:
    view = service.show_session(args.id)
    return Output(_detail(view), view.to_dict())


def _add(service: PolicyService, args: argparse.Namespace) -> Output:
    dpid, port, vlan = parse_attach_point(args.attach)
    lifetime: dt.timedelta | None = None if args.lifetime is None else \
        parse_span(args.lifetime, "lifetime")
    view = service.open_session(nas=args.nas, session_id=args.session_id, account=args.account,
                                dpid=dpid, port=port, vlan=vlan, addresses=args.address,
                                lifetime=lifetime, source="api")
    return Output(_detail(view), view.to_dict())


def _end(service: PolicyService, args: argparse.Namespace) -> Output:
    view = service.end_session(args.id, args.reason)
    return Output(f"session {view.id} ended ({view.end_reason})", view.to_dict())


def _expire(service: PolicyService, _args: argparse.Namespace) -> Output:
    count = service.expire_sessions()
    return Output(f"{count} session(s) expired", {"expired": count})


def _who(service: PolicyService, args: argparse.Namespace) -> Output:
    views = service.who_had(args.address, args.at)
    return Output(_rows(views), [v.to_dict() for v in views])
