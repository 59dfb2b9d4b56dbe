"""``op25b subscriber``: subscribers, their attachment points and opt-outs.

Bulk import and export share the group but live in ``subscriber_csv``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, NamedTuple

from op25b_app import service as op25b_service
from op25b_app.cli.commands import subscriber_csv, summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import Actions, CommandTree
from op25b_app.service import ENCAPSULATIONS, limits

if TYPE_CHECKING:
    from op25b_app.service import AttachmentSpec, PolicyService, SubscriberView


class _AttachPoint(NamedTuple):
    """One ``--attach`` with the ``--prefix`` and ``--carries`` options after it."""

    where: str
    prefixes: list[str]
    carries: list[str]


class _AttachAction(argparse.Action):
    """``--attach DPID:PORT[:VLAN]`` starts a new attachment point."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        points = list(getattr(namespace, self.dest, None) or [])
        points.append(_AttachPoint(str(values), [], []))
        setattr(namespace, self.dest, points)


class _PointAction(argparse.Action):
    """An option that belongs to the most recent ``--attach`` (``--prefix``, ``--carries``).

    Order on the command line is the grouping: a subscriber with several
    attachment points gives each its own prefixes and carried encapsulations
    without a nested syntax. ``dest`` names the ``_AttachPoint`` list the
    value goes to; ``--carries`` takes comma-separated kinds.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        points = getattr(namespace, "attach", None)
        if not points:
            parser.error(f"{option_string} {values} must follow an --attach DPID:PORT[:VLAN]")
        given = str(values)
        target: list[str] = getattr(points[-1], self.dest)
        target.extend(op25b_service.split_carries(given) if self.dest == "carries" else [given])


def _add_attach_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach",
        action=_AttachAction,
        metavar="DPID:PORT[:VLAN]",
        help="where the subscriber's traffic enters (repeatable; dpid decimal or 0x-hex)",
    )
    parser.add_argument(
        "--prefix",
        action=_PointAction,
        dest="prefixes",
        default=argparse.SUPPRESS,
        metavar="PREFIX",
        help="source prefix for the preceding --attach (repeatable, at most "
        f"{limits.MAX_PREFIXES_PER_POINT}; none = any source)",
    )
    parser.add_argument(
        "--carries",
        action=_PointAction,
        dest="carries",
        default=argparse.SUPPRESS,
        metavar="KINDS",
        help="encapsulations the preceding --attach's port/VLAN carries on purpose, passed "
        f"instead of dropped (comma-separated: {', '.join(sorted(ENCAPSULATIONS))})",
    )


def _attachment_specs(points: list[_AttachPoint] | None) -> list[AttachmentSpec]:
    specs: list[AttachmentSpec] = []
    for point in points or []:
        dpid, port, vlan = op25b_service.parse_attach_point(point.where)
        specs.append(op25b_service.AttachmentSpec(
            dpid=dpid, port=port, vlan=vlan, prefixes=tuple(point.prefixes),
            carries=tuple(point.carries)))
    return specs


def register(tree: CommandTree) -> None:
    """Add ``subscriber`` and its actions (``import``/``export`` from ``subscriber_csv``)."""
    su = tree.group("subscriber", summary("subscriber"), "op25b subscriber show A100")
    cmd = tree.command(
        su,
        "add",
        _add,
        "add a subscriber with its attachments",
        'op25b subscriber add --account A100 --name "Taro" --type broadband '
        "--attach 1:3 --prefix 10.1.0.5/32 --prefix 2001:db8:100::/56",
    )
    cmd.add_argument("--account", required=True)
    cmd.add_argument("--name", default="")
    cmd.add_argument("--type", required=True, dest="type_name", metavar="TYPE")
    _add_attach_options(cmd)
    tree.command(su, "list", _list, "list subscribers", "op25b subscriber list --json",
                 mode="read")
    cmd = tree.command(su, "show", _show, "show one subscriber", "op25b subscriber show A100",
                       mode="read")
    cmd.add_argument("account")
    cmd = tree.command(
        su,
        "set-type",
        _set_type,
        "change a subscriber's connection type",
        "op25b subscriber set-type A100 dialup",
    )
    cmd.add_argument("account")
    cmd.add_argument("type_name", metavar="TYPE")
    _register_opt_out(tree, su)
    cmd = tree.command(
        su,
        "remove",
        _remove,
        "delete a subscriber and its attachments",
        "op25b subscriber remove A100",
    )
    cmd.add_argument("account")
    _register_attachments(tree, su)
    subscriber_csv.register(tree, su)


def _register_opt_out(tree: CommandTree, su: Actions) -> None:
    cmd = tree.command(
        su,
        "exempt",
        _exempt,
        "opt a subscriber out of blocking",
        'op25b subscriber exempt A100 --reason "own mail server" --until 2026-12-31T00:00+09:00',
    )
    cmd.add_argument("account")
    cmd.add_argument("--reason", required=True)
    cmd.add_argument(
        "--until",
        default=None,
        metavar="TIME",
        help="ISO 8601 with offset (e.g. 2026-12-31T00:00+09:00), years "
        f"{limits.EARLIEST_TIME_YEAR}..{limits.LATEST_TIME_YEAR}; default: no expiry",
    )
    cmd = tree.command(
        su,
        "unexempt",
        _unexempt,
        "end a subscriber's opt-out",
        "op25b subscriber unexempt A100",
    )
    cmd.add_argument("account")


def _register_attachments(tree: CommandTree, su: Actions) -> None:
    cmd = tree.command(
        su,
        "attach",
        _attach,
        "add attachments to a subscriber",
        "op25b subscriber attach A100 --attach 1:4:100 --prefix 10.1.1.0/29",
    )
    cmd.add_argument("account")
    _add_attach_options(cmd)
    cmd = tree.command(
        su,
        "detach",
        _detach,
        "remove one attachment (id from 'show')",
        "op25b subscriber detach A100 --id 17",
    )
    cmd.add_argument("account")
    cmd.add_argument("--id", required=True, dest="attachment_id")


def _add(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    specs = _attachment_specs(args.attach)
    return service.add_subscriber(args.account, args.name, args.type_name, specs)


def _list(service: PolicyService, _args: argparse.Namespace) -> list[SubscriberView]:
    return service.list_subscribers()


def _show(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.show_subscriber(args.account)


def _set_type(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.set_subscriber_type(args.account, args.type_name)


def _exempt(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.exempt_subscriber(args.account, args.reason, args.until)


def _unexempt(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.unexempt_subscriber(args.account)


def _remove(service: PolicyService, args: argparse.Namespace) -> Output:
    view = service.remove_subscriber(args.account)
    return Output(f"removed subscriber {view.account} and {len(view.attachments)} attachment(s)",
                  view)


def _attach(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.add_attachments(args.account, _attachment_specs(args.attach))


def _detach(service: PolicyService, args: argparse.Namespace) -> SubscriberView:
    return service.remove_attachment(args.account, args.attachment_id)
