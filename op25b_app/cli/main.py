"""``op25b``: the operator's command line for the subscriber database.

This module is only argument parsing and output formatting; every rule lives
in ``op25b_app.service.policy_service`` so the CLI, a REST API and CSV import cannot drift
apart. It is also the only place in the package that prints.

Exit status: 0 success; 2 bad input (one line on stderr naming the field and
value, nothing written); 1 anything else the operator must fix outside the
command (database unreachable or not upgraded, malformed stored data).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import datetime as dt
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from alembic.util import CommandError as AlembicError
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from op25b_app import __version__
from op25b_app.db import migrate
from op25b_app.db.engine import DEFAULT_DB_URL, make_engine
from op25b_app.db.snapshot_loader import SnapshotError, load_snapshot
from op25b_app.service.policy_service import (
    AttachmentSpec,
    ConnectionTypeView,
    MtaView,
    PolicyService,
    ServiceError,
    SubscriberView,
    SwitchView,
    ValidationError,
    parse_attach_point,
    parse_dpid,
    parse_time,
    parse_zone,
    to_jsonable,
)
from op25b_app.core.snapshot import ROLE_EDGE, ROLES
from op25b_app.service.csv_records import COLUMNS as CSV_COLUMNS
from op25b_app.service.csv_records import read_file, read_records, write_records
from op25b_app.service.bulk_import import ImportRejected, ImportResult

log = logging.getLogger(__name__)

DB_ENV_VAR = "OP25B_DB"
TZ_ENV_VAR = "OP25B_TZ"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

#: The zone times are shown in (``--tz``/$OP25B_TZ); None shows them in UTC.
_DISPLAY_ZONE: contextvars.ContextVar[dt.tzinfo | None] = contextvars.ContextVar(
    "op25b_display_zone", default=None
)


class UsageError(Exception):
    """A command-line mistake argparse itself detected (exit 2, one line)."""


class CommandFailed(Exception):
    """The command could not be carried out for a reason outside its input (exit 1)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, like every other op25b error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see --help)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples in epilogs exactly as written."""


# --------------------------------------------------------------------------- --attach/--prefix


class _AttachAction(argparse.Action):
    """``--attach DPID:PORT[:VLAN]`` starts a new attachment point."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        points = list(getattr(namespace, self.dest, None) or [])
        points.append((values, []))
        setattr(namespace, self.dest, points)


class _PrefixAction(argparse.Action):
    """``--prefix P`` belongs to the most recent ``--attach``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        points = getattr(namespace, "attach", None)
        if not points:
            parser.error(f"{option_string} {values} must follow an --attach DPID:PORT[:VLAN]")
        points[-1][1].append(values)


def _attachment_specs(points: list[tuple[str, list[str]]] | None) -> list[AttachmentSpec]:
    specs: list[AttachmentSpec] = []
    for point, prefixes in points or []:
        dpid, port, vlan = parse_attach_point(point)
        specs.append(AttachmentSpec(dpid=dpid, port=port, vlan=vlan, prefixes=tuple(prefixes)))
    return specs


# --------------------------------------------------------------------------- parser


def _add_attach_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach",
        action=_AttachAction,
        metavar="DPID:PORT[:VLAN]",
        help="where the subscriber's traffic enters (repeatable; dpid decimal or 0x-hex)",
    )
    parser.add_argument(
        "--prefix",
        action=_PrefixAction,
        metavar="PREFIX",
        help="source prefix for the preceding --attach (repeatable; none = any source)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``op25b`` argument parser (exposed for tests and docs)."""
    db_help = f"database URL (default: ${DB_ENV_VAR}, else {DEFAULT_DB_URL})"
    tz_help = (
        f"time zone for times given without an offset and for output, e.g. Asia/Tokyo "
        f"(default: ${TZ_ENV_VAR}, else none: offsets required, output in UTC)"
    )
    # Accept --db/--json after the subcommand too; SUPPRESS keeps a value
    # given before the subcommand from being overwritten by a default.
    common = _Parser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=db_help)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument("--tz", default=argparse.SUPPRESS, metavar="ZONE", help=tz_help)

    parser = _Parser(
        prog="op25b",
        description="Manage op25b's subscriber database (Outbound Port 25 Blocking).",
        formatter_class=_Formatter,
        epilog=(
            "example:\n"
            "  op25b --db postgresql://op25b@dbhost/op25b subscriber list --json\n"
            f"  {DB_ENV_VAR}=sqlite:////var/lib/op25b/op25b.db op25b db init"
        ),
    )
    parser.add_argument("--version", action="version", version=f"op25b {__version__}")
    parser.add_argument("--db", default=None, metavar="URL", help=db_help)
    parser.add_argument("--json", action="store_true", default=False, help="print JSON")
    parser.add_argument("--tz", default=None, metavar="ZONE", help=tz_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def group(name: str, help_text: str, example: str) -> argparse._SubParsersAction[_Parser]:
        sub = groups.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=_Formatter,
            epilog=f"example:\n  {example}",
            parents=[common],
        )
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    def command(
        actions: argparse._SubParsersAction[_Parser],
        name: str,
        handler: Callable[[PolicyService, argparse.Namespace], Any],
        help_text: str,
        example: str,
    ) -> argparse.ArgumentParser:
        cmd = actions.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=_Formatter,
            epilog=f"example:\n  {example}",
            parents=[common],
        )
        cmd.set_defaults(handler=handler)
        return cmd

    # db
    db = group("db", "create or upgrade the database schema", "op25b db init")
    command(
        db,
        "init",
        _db_upgrade,
        "create the schema (idempotent)",
        "op25b --db sqlite:///op25b.db db init",
    )
    command(db, "upgrade", _db_upgrade, "upgrade the schema to this version", "op25b db upgrade")
    command(db, "status", _db_status, "show the schema and policy revision", "op25b db status")

    # status (written by the controller into the database)
    st = groups.add_parser(
        "status",
        help="what each controller reports about each switch",
        description="Connected switches, revision applied vs the database's, entries, last "
        "error, as the controllers wrote them into the database.",
        formatter_class=_Formatter,
        epilog="example:\n  op25b status --json",
        parents=[common],
    )
    st.set_defaults(handler=_status)

    # audit trail
    au = groups.add_parser(
        "audit",
        help="who changed what, when (newest first)",
        description="Every change made through op25b (CLI, REST API, import) with who made "
        "it, when and the state before and after; policy revisions no entry accounts for "
        "are shown as 'direct SQL (revision X→Y)'.",
        formatter_class=_Formatter,
        epilog="example:\n  op25b --tz Asia/Tokyo audit --account A100 --since 7d",
        parents=[common],
    )
    au.add_argument("--account", default=None, help="only changes of this subscriber account")
    au.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="only changes at or after TIME (ISO 8601, or a span back from now: 30m, 12h, 7d)",
    )
    au.add_argument(
        "--limit", type=int, default=100, metavar="N", help="show at most N entries (0: all)"
    )
    au.set_defaults(handler=_audit)

    # switch
    sw = group("switch", "register the OpenFlow switches op25b programs", "op25b switch list")
    cmd = command(
        sw,
        "add",
        _switch_add,
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
    command(sw, "list", _switch_list, "list switches", "op25b switch list --json")
    cmd = command(
        sw,
        "remove",
        _switch_remove,
        "forget a switch (no attachments may remain)",
        "op25b switch remove 0x1",
    )
    cmd.add_argument("dpid", help="datapath id, decimal or 0x-hex")

    # type
    ty = group("type", "connection types (broadband, dialup, ...)", "op25b type list")
    cmd = command(
        ty,
        "add",
        _type_add,
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
    command(ty, "list", _type_list, "list connection types", "op25b type list")

    # subscriber
    su = group(
        "subscriber", "subscribers, their attachments and opt-outs", "op25b subscriber show A100"
    )
    cmd = command(
        su,
        "add",
        _subscriber_add,
        "add a subscriber with its attachments",
        'op25b subscriber add --account A100 --name "Taro" --type broadband '
        "--attach 1:3 --prefix 10.1.0.5/32 --prefix 2001:db8:100::/56",
    )
    cmd.add_argument("--account", required=True)
    cmd.add_argument("--name", default="")
    cmd.add_argument("--type", required=True, dest="type_name", metavar="TYPE")
    _add_attach_options(cmd)
    command(su, "list", _subscriber_list, "list subscribers", "op25b subscriber list --json")
    cmd = command(su, "show", _subscriber_show, "show one subscriber", "op25b subscriber show A100")
    cmd.add_argument("account")
    cmd = command(
        su,
        "set-type",
        _subscriber_set_type,
        "change a subscriber's connection type",
        "op25b subscriber set-type A100 dialup",
    )
    cmd.add_argument("account")
    cmd.add_argument("type_name", metavar="TYPE")
    cmd = command(
        su,
        "exempt",
        _subscriber_exempt,
        "opt a subscriber out of blocking",
        'op25b subscriber exempt A100 --reason "own mail server" --until 2026-12-31T00:00+09:00',
    )
    cmd.add_argument("account")
    cmd.add_argument("--reason", required=True)
    cmd.add_argument(
        "--until",
        default=None,
        metavar="TIME",
        help="ISO 8601 with offset (e.g. 2026-12-31T00:00+09:00); default: no expiry",
    )
    cmd = command(
        su,
        "unexempt",
        _subscriber_unexempt,
        "end a subscriber's opt-out",
        "op25b subscriber unexempt A100",
    )
    cmd.add_argument("account")
    cmd = command(
        su,
        "remove",
        _subscriber_remove,
        "delete a subscriber and its attachments",
        "op25b subscriber remove A100",
    )
    cmd.add_argument("account")
    cmd = command(
        su,
        "attach",
        _subscriber_attach,
        "add attachments to a subscriber",
        "op25b subscriber attach A100 --attach 1:4:100 --prefix 10.1.1.0/29",
    )
    cmd.add_argument("account")
    _add_attach_options(cmd)
    cmd = command(
        su,
        "detach",
        _subscriber_detach,
        "remove one attachment (id from 'show')",
        "op25b subscriber detach A100 --id 17",
    )
    cmd.add_argument("account")
    cmd.add_argument("--id", required=True, dest="attachment_id")
    cmd = command(
        su,
        "import",
        _subscriber_import,
        "add or update subscribers from a CSV file, all or nothing",
        "op25b --tz Asia/Tokyo subscriber import subscribers.csv --dry-run",
    )
    cmd.add_argument("file", metavar="FILE.csv", help="CSV file ('-' for standard input)")
    cmd.add_argument(
        "--dry-run", action="store_true", help="check everything, report the changes, write nothing"
    )
    cmd.epilog = (
        f"columns: {','.join(CSV_COLUMNS)}\n"
        "  one line per attachment point; prefixes space-separated; empty vlan/prefixes = any;\n"
        "  exempt true/false; exempt_until ISO 8601 with offset, or in --tz.\n"
        "  Accounts in the file get exactly the file's data; other accounts are untouched.\n"
        f"{cmd.epilog}"
    )
    cmd = command(
        su,
        "export",
        _subscriber_export,
        "write every subscriber as CSV (the import format)",
        "op25b subscriber export --output subscribers.csv",
    )
    cmd.add_argument("--output", default=None, metavar="FILE", help="write here (default: stdout)")

    # mta
    mt = group("mta", "the ISP's own mail relays (TCP/25 to them passes)", "op25b mta list")
    cmd = command(
        mt, "add", _mta_add, "register an MTA", "op25b mta add --name relay1 --prefix 192.0.2.25/32"
    )
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--prefix", required=True)
    command(mt, "list", _mta_list, "list MTAs", "op25b mta list")
    cmd = command(mt, "remove", _mta_remove, "forget an MTA", "op25b mta remove relay1")
    cmd.add_argument("name")

    # enforcement (monitor mode, the announced start date)
    en = group("enforcement", "monitor before enforcing, and the enforcement start time",
               "op25b enforcement show")
    command(en, "show", _enforcement_show, "show the global and per-switch settings",
            "op25b enforcement show --json")
    cmd = command(
        en, "set", _enforcement_set,
        "set the mode (monitor: TCP/25 passes but is counted), optionally with a start time",
        "op25b enforcement set --mode monitor --at 2007-12-12T00:00+09:00",
    )
    cmd.add_argument("--mode", choices=["enforce", "monitor", "inherit"], default=None,
                     help="inherit: a switch follows the global setting again")
    cmd.add_argument("--at", default=None, metavar="TIME",
                     help="enforce from this time on (monitor until then)")
    cmd.add_argument("--no-at", action="store_true", help="remove the start time")
    cmd.add_argument("--dpid", default=None, help="one switch instead of the global setting")

    # reports for the abuse desk
    rp = group("report", "who sends TCP/25 to non-MTA destinations",
               "op25b report suspects --window 1h --threshold 100")
    cmd = command(rp, "affected", _report_affected,
                  "subscribers counted while monitored: the list to notify before enforcement",
                  "op25b report affected --since 2007-11-01T00:00+09:00 --csv")
    cmd.add_argument("--since", default=None, metavar="TIME",
                     help="from this time (default: 30 days ago)")
    cmd.add_argument("--csv", action="store_true", help="CSV output")
    cmd = command(rp, "suspects", _report_suspects,
                  "subscribers whose blocked attempts exceed a threshold: likely infected",
                  "op25b report suspects --window 1h --threshold 100")
    cmd.add_argument("--window", default="1h", help="e.g. 30m, 1h, 2d (rounded to hours)")
    cmd.add_argument("--threshold", type=int, default=100,
                     help="more blocked packets than this in the window")
    cmd.add_argument("--csv", action="store_true", help="CSV output")

    # policy
    po = group("policy", "inspect the compiled policy", "op25b policy show --dpid 1")
    cmd = command(
        po,
        "show",
        _policy_show,
        "print the flow entries a switch should hold",
        "op25b policy show --dpid 0x1 --at 2026-12-31T00:00+09:00",
    )
    cmd.add_argument("--dpid", required=True, help="datapath id, decimal or 0x-hex")
    cmd.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="compile for this time (ISO 8601 with offset); default: now",
    )

    # api: the REST API process; parsing and handler live in op25b_app.cli.api_command
    from op25b_app.cli.api_command import add_api_command

    add_api_command(groups, common)
    return parser


# --------------------------------------------------------------------------- handlers
#
# Each handler returns what to print: a view, a list of views, a string, or
# a (human_text, json_value) pair. Output happens in _emit only.


def _db_upgrade(_service: PolicyService, args: argparse.Namespace) -> Any:
    revision = migrate.upgrade(args.engine)
    return (f"database schema at revision {revision}", {"schema_revision": revision})


def _db_status(_service: PolicyService, args: argparse.Namespace) -> Any:
    from op25b_app.db.snapshot_loader import read_revision

    current = migrate.current_revision(args.engine)
    head = migrate.head_revision()
    policy_revision = None
    if current is not None:
        with args.engine.connect() as conn:
            policy_revision = read_revision(conn)
    data = {"schema_revision": current, "schema_head": head, "policy_revision": policy_revision}
    text = (
        f"schema revision: {current or 'empty'} (this op25b: {head})\n"
        f"policy revision: {policy_revision if policy_revision is not None else '-'}"
    )
    return (text, data)


def _status(_service: PolicyService, args: argparse.Namespace) -> Any:
    from op25b_app.db.status import read_status

    data = read_status(args.engine)
    current = data["policy_revision"]
    lines = [f"policy revision in database: {current}"]
    for c in data["controllers"]:
        bad = f", REJECTED revision {c['bad_revision']}: {c['bad_reason']}" \
            if c["bad_revision"] is not None else ""
        lines.append(f"controller {c['controller_id']} (pid {c['pid']}): revision "
                     f"{c['revision_loaded']} loaded, heartbeat {_when(c['heartbeat_at'])}{bad}")
    if data["switches"]:
        lines.append(_table(
            ["DPID", "NAME", "CONTROLLER", "CONNECTED", "SINCE", "REVISION", "ENTRIES", "ERROR"],
            [[f"{s['dpid']:#x}", s["name"] or "(unregistered)", s["controller_id"],
              "yes" if s["connected"] else "no",
              _when(s["connected_since"]) if s["connected_since"] else "-",
              "-" if s["revision_applied"] is None else str(s["revision_applied"]),
              str(s["entries"]), s["last_error"] or "-"] for s in data["switches"]],
        ))
    else:
        lines.append("no switch has been reported by a controller")
    return ("\n".join(lines), data)


def _switch_add(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.add_switch(args.dpid, args.name, args.uplink, args.role)


def _switch_list(service: PolicyService, _args: argparse.Namespace) -> Any:
    return service.list_switches()


def _switch_remove(service: PolicyService, args: argparse.Namespace) -> Any:
    view = service.remove_switch(args.dpid)
    return (f"removed switch {view.name} (dpid {view.dpid:#x})", view)


def _type_add(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.add_connection_type(args.name, args.blocked, args.description)


def _type_list(service: PolicyService, _args: argparse.Namespace) -> Any:
    return service.list_connection_types()


def _subscriber_add(service: PolicyService, args: argparse.Namespace) -> Any:
    specs = _attachment_specs(args.attach)
    return service.add_subscriber(args.account, args.name, args.type_name, specs)


def _subscriber_list(service: PolicyService, _args: argparse.Namespace) -> Any:
    return service.list_subscribers()


def _subscriber_show(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.show_subscriber(args.account)


def _subscriber_set_type(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.set_subscriber_type(args.account, args.type_name)


def _subscriber_exempt(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.exempt_subscriber(args.account, args.reason, args.until)


def _subscriber_unexempt(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.unexempt_subscriber(args.account)


def _subscriber_remove(service: PolicyService, args: argparse.Namespace) -> Any:
    view = service.remove_subscriber(args.account)
    return (f"removed subscriber {view.account} and {len(view.attachments)} attachment(s)", view)


def _subscriber_attach(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.add_attachments(args.account, _attachment_specs(args.attach))


def _subscriber_detach(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.remove_attachment(args.account, args.attachment_id)


def _subscriber_import(service: PolicyService, args: argparse.Namespace) -> Any:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            records, problems = read_records(sys.stdin)
        else:
            records, problems = read_file(args.file)
    except OSError as error:
        raise ValidationError("file", args.file, error.strerror or str(error)) from None
    progress = _ProgressLine(args.err, f"import {source}")
    try:
        result = service.import_subscribers(
            records,
            dry_run=args.dry_run,
            source=source,
            prior_problems=problems,
            progress=progress,
        )
    except ImportRejected as error:
        error.source = source
        raise
    finally:
        progress.close()
    return (_import_text(source, result), result)


def _import_text(source: str, r: ImportResult) -> str:
    counts = (
        f"{r.added} added, {r.updated} updated, {r.unchanged} unchanged "
        f"({r.rows} line(s), {r.accounts} account(s); "
        f"attachments +{r.attachments_added} -{r.attachments_removed})"
    )
    if r.dry_run:
        return f"dry run of {source}, nothing written: {counts}"
    return f"imported {source}: {counts}; policy revision {r.revision}"


def _subscriber_export(service: PolicyService, args: argparse.Namespace) -> Any:
    records = service.export_subscribers()
    accounts = len({r.account for r in records})
    summary = {"rows": len(records), "accounts": accounts, "output": args.output}
    if args.output is None:
        if args.json:
            return ("", [_record_dict(r) for r in records])
        buffer = io.StringIO()
        write_records(buffer, records)
        return (buffer.getvalue().rstrip("\n"), summary)
    # Write beside the target and rename, so a reader never sees half a file.
    target = os.path.abspath(args.output)
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as stream:
            write_records(stream, records)
        os.replace(partial, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ValidationError("output", args.output, error.strerror or str(error)) from None
    return (f"exported {len(records)} line(s) ({accounts} subscriber(s)) to {args.output}", summary)


def _record_dict(record: Any) -> dict[str, str]:
    return dict(zip(CSV_COLUMNS, record.values(), strict=True))


def _audit(service: PolicyService, args: argparse.Namespace) -> Any:
    if args.limit < 0:
        raise ValidationError("limit", args.limit, "must be 0 (all) or more")
    entries = service.audit_log(account=args.account, since=args.since, limit=args.limit)
    if not entries:
        return ("(no audit entries)", entries)
    rows = [
        [
            "?" if e.at is None else _when(e.at) if e.at_exact else f"<={_when(e.at)}",
            e.actor,
            e.action,
            e.entity,
            e.key,
            e.summary,
        ]
        for e in entries
    ]
    return (_table(["WHEN", "ACTOR", "ACTION", "ENTITY", "KEY", "CHANGE"], rows), entries)


def _mta_add(service: PolicyService, args: argparse.Namespace) -> Any:
    return service.add_mta(args.name, args.prefix)


def _mta_list(service: PolicyService, _args: argparse.Namespace) -> Any:
    return service.list_mtas()


def _mta_remove(service: PolicyService, args: argparse.Namespace) -> Any:
    view = service.remove_mta(args.name)
    return (f"removed MTA {view.name} ({view.prefix})", view)


def _enforcement_text(data: dict[str, Any]) -> str:
    g = data["global"]
    lines = [f"global: {g['mode']}"
             + (f", enforce from {_when(g['enforce_at'])}" if g["enforce_at"] else "")]
    for sw in data["switches"]:
        lines.append(f"switch {sw['name']} ({sw['dpid']:#x}): {sw['mode'] or 'enforce'}"
                     + (f", enforce from {_when(sw['enforce_at'])}" if sw["enforce_at"] else ""))
    return "\n".join(lines)


def _enforcement_show(service: PolicyService, _args: argparse.Namespace) -> Any:
    data = service.show_enforcement()
    return (_enforcement_text(data), data)


def _enforcement_set(service: PolicyService, args: argparse.Namespace) -> Any:
    if args.mode is None and args.at is None and not args.no_at:
        raise ValidationError("mode", None, "give --mode, --at or --no-at")
    data = service.set_enforcement(args.mode, args.at, args.dpid, clear_at=args.no_at)
    return (_enforcement_text(data), data)


_REPORT_COLUMNS = ["account", "name", "dpid", "packets", "first_seen", "last_seen",
                   "destinations"]


def _report(rows: list[dict[str, Any]], as_csv: bool) -> Any:
    import csv
    import io

    if as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_REPORT_COLUMNS)
        for r in rows:
            writer.writerow([r["account"], r["name"], f"{r['dpid']:#x}", r["packets"],
                             _when(r["first_seen"]), _when(r["last_seen"]),
                             " ".join(d.split(" ")[0] for d in r["destinations"])])
        return (buf.getvalue().rstrip("\n"), rows)
    if not rows:
        return ("(none)", rows)
    return (_table([c.upper() for c in _REPORT_COLUMNS],
                   [[r["account"], r["name"], f"{r['dpid']:#x}", str(r["packets"]),
                     _when(r["first_seen"]), _when(r["last_seen"]),
                     ", ".join(r["destinations"]) or "-"] for r in rows]), rows)


def _report_affected(service: PolicyService, args: argparse.Namespace) -> Any:
    from op25b_app.db import counters

    now = dt.datetime.now(dt.UTC)
    since = parse_time(args.since, "since", service.tz) if args.since else \
        now - dt.timedelta(days=30)
    return _report(counters.affected(args.engine, since), args.csv)


def _parse_window(value: str) -> dt.timedelta:
    import re

    m = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if not m or int(m.group(1)) == 0:
        raise ValidationError("window", value, "use a number with m, h or d, e.g. 1h")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return dt.timedelta(**{unit: int(m.group(1))})


def _report_suspects(service: PolicyService, args: argparse.Namespace) -> Any:
    from op25b_app.db import counters

    if args.threshold < 0:
        raise ValidationError("threshold", args.threshold, "must be 0 or more")
    rows = counters.suspects(args.engine, _parse_window(args.window), args.threshold,
                             dt.datetime.now(dt.UTC))
    return _report(rows, args.csv)


def _policy_show(_service: PolicyService, args: argparse.Namespace) -> Any:
    # Imported here so the database commands work even if the compiler
    # module fails to import (and so `op25b db init` stays fast).
    from op25b_app.core.compile import compile_policy
    from op25b_app.core.errors import PolicyError

    dpid = parse_dpid(args.dpid)
    now = parse_time(args.at, "at", _service.tz) if args.at else dt.datetime.now(dt.UTC)
    snapshot = load_snapshot(args.engine)
    try:
        specs, next_change = compile_policy(snapshot, dpid, now)
    except PolicyError as error:
        raise CommandFailed(f"policy for dpid {dpid:#x}: {error}") from error
    log.info(
        "dpid %#x at revision %d: %d entries, next change %s",
        dpid,
        snapshot.revision,
        len(specs),
        "never" if next_change is None else next_change.isoformat(),
    )
    ordered = sorted(specs, key=lambda s: (s.table, -s.priority, str(s)))
    return ("\n".join(str(s) for s in ordered), [_flow_dict(s) for s in ordered])


def _flow_dict(spec: Any) -> dict[str, Any]:
    return {
        "table": spec.table,
        "priority": spec.priority,
        "match": {field: value for field, value in spec.match},
        "actions": spec.actions,
        "cookie": spec.cookie,
        "text": str(spec),
    }


# --------------------------------------------------------------------------- output


def _emit(result: Any, as_json: bool, out: TextIO) -> None:
    """The one place that writes command results."""
    zone = _DISPLAY_ZONE.get()
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str):
        text, data = result
        if as_json:
            out.write(json.dumps(to_jsonable(data, zone), indent=2, default=str) + "\n")
        elif text:
            out.write(text + "\n")
        return
    if as_json:
        out.write(json.dumps(to_jsonable(result, zone), indent=2, default=str) + "\n")
        return
    out.write(_human(result) + "\n")


def _human(result: Any) -> str:
    if isinstance(result, SubscriberView):
        return _subscriber_detail(result)
    items = result if isinstance(result, list) else [result]
    if not items:
        return "(none)"
    first = items[0]
    if isinstance(first, SwitchView):
        return _table(
            ["DPID", "NAME", "ROLE", "UPLINKS"],
            [[f"{s.dpid:#x}", s.name, s.role, ",".join(map(str, s.uplinks)) or "-"] for s in items],
        )
    if isinstance(first, ConnectionTypeView):
        return _table(
            ["NAME", "BLOCKED", "DESCRIPTION"],
            [[t.name, "yes" if t.blocked else "no", t.description] for t in items],
        )
    if isinstance(first, MtaView):
        return _table(["NAME", "PREFIX"], [[m.name, m.prefix] for m in items])
    if isinstance(first, SubscriberView):
        return _table(
            ["ACCOUNT", "TYPE", "BLOCKED", "EXEMPT", "UNTIL", "ATTACH", "NAME"],
            [
                [
                    s.account,
                    s.type,
                    "yes" if s.blocked_now else "no",
                    "yes" if s.exempt else "no",
                    _when(s.exempt_until) if s.exempt else "-",
                    str(len(s.attachments)),
                    s.name,
                ]
                for s in items
            ],
        )
    return "\n".join(str(i) for i in items)


def _subscriber_detail(s: SubscriberView) -> str:
    lines = [
        f"account:     {s.account}",
        f"name:        {s.name}",
        f"type:        {s.type} ({'blocked' if s.type_blocked else 'exempt'} type)",
        f"tcp/25:      {'BLOCKED' if s.blocked_now else 'allowed'} now",
    ]
    if s.exempt:
        lines.append(f"exempt:      until {_when(s.exempt_until)}: {s.exempt_reason}")
    lines.append(f"updated:     {_when(s.updated_at)}")
    if s.attachments:
        lines.append("attachments:")
        table = _table(
            ["ID", "SWITCH", "DPID", "PORT", "VLAN", "PREFIX"],
            [
                [
                    str(a.id),
                    a.switch,
                    f"{a.dpid:#x}",
                    str(a.port),
                    "*" if a.vlan is None else str(a.vlan),
                    a.prefix or "*",
                ]
                for a in s.attachments
            ],
        )
        lines.extend("  " + line for line in table.splitlines())
    else:
        lines.append("attachments: none")
    return "\n".join(lines)


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "forever"
    zone = _DISPLAY_ZONE.get()
    if zone is not None and value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.isoformat(timespec="seconds")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [headers, *rows])


# --------------------------------------------------------------------------- main


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbosity < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one ``op25b`` command; returns the exit status (see module docstring)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        err.write(f"{error}\n")
        return EXIT_BAD_INPUT
    _configure_logging(args.verbose)
    tz_name = args.tz or os.environ.get(TZ_ENV_VAR) or None
    try:
        zone = None if tz_name is None else parse_zone(tz_name, "tz")
    except ServiceError as error:
        err.write(f"op25b: error: {error}\n")
        return EXIT_BAD_INPUT
    url = args.db or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError) as error:
        err.write(f"op25b: error: field 'db' value '{url}': not a usable database URL ({error})\n")
        return EXIT_BAD_INPUT
    zone_token = _DISPLAY_ZONE.set(zone)
    try:
        args.engine = engine
        args.err = err
        if args.group != "db":
            migrate.ensure_current(engine)
        service = PolicyService(engine, tz=zone)
        result = args.handler(service, args)
        _emit(result, bool(args.json), out)
        return EXIT_OK
    except ServiceError as error:
        for line in _error_lines(error):
            err.write(f"op25b: error: {line}\n")
        return EXIT_BAD_INPUT
    except (migrate.SchemaNotCurrent, SnapshotError, CommandFailed, AlembicError) as error:
        err.write(f"op25b: error: {error}\n")
        return EXIT_FAILURE
    except SQLAlchemyError as error:
        log.debug("database error", exc_info=True)
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        err.write(f"op25b: error: database {_safe_url(url)}: {first_line}\n")
        return EXIT_FAILURE
    finally:
        _DISPLAY_ZONE.reset(zone_token)
        engine.dispose()


def _error_lines(error: ServiceError) -> list[str]:
    """One line per problem: a rejected import lists every bad line, then a summary."""
    if isinstance(error, ImportRejected):
        source = error.source
        prefix = f"{source} " if source else ""
        bad = len({p.line for p in error.problems})
        return [f"{prefix}{p}" for p in error.problems] + [
            f"{source or 'import'}: {bad} bad line(s), nothing imported"
        ]
    return [str(error)]


class _ProgressLine:
    """Progress of a long import as one rewritten line on a terminal's stderr.

    Only on a terminal (a log file or a pipe must not fill with carriage
    returns) and only for inputs large enough to take seconds; a plain
    ``\\r`` line needs no dependency.
    """

    MIN_TOTAL = 5000
    INTERVAL_S = 0.2

    def __init__(self, stream: TextIO, label: str) -> None:
        isatty = getattr(stream, "isatty", None)
        self._stream = stream
        self._label = label
        self._enabled = bool(isatty and isatty())
        self._last = 0.0
        self._width = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled or total < self.MIN_TOTAL:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.INTERVAL_S:
            return
        self._last = now
        text = f"\r{self._label}: {phase} {done}/{total} ({100 * done // max(total, 1)}%)"
        self._width = max(self._width, len(text))
        self._stream.write(text.ljust(self._width))
        self._stream.flush()

    def close(self) -> None:
        """Erase the progress line so the result starts on a clean line."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


if __name__ == "__main__":
    sys.exit(main())
