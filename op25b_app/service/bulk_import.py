"""Bulk subscriber import (an upsert keyed by account) and export.

The unit of exchange is a ``SubscriberRecord``: one attachment point of one
subscriber, every field as text, exactly as a CSV row carries it (``csvio``
reads and writes those files; a REST API could hand JSON rows to the same
code). A subscriber with several attachment points has several records with
the same account; one with none has a single record with empty dpid and port.

Why it is shaped like this:

* **Same rules as one-at-a-time writes.** Every field goes through the
  service's own parsers, and every database rule (unknown type or switch,
  uplink port, attachment owned by another account, MTA overlap, opt-out in
  the past) through the service's rule functions with the same messages;
  only the data they are checked against is preloaded in bulk instead of
  queried per row, because 100k single-row queries take minutes.
* **Every bad line, not the first.** An operator fixing a 100k-row export
  from the billing system needs the whole list at once. Checks continue
  after a failure; nothing is written unless no line failed.
* **All or nothing, one transaction.** Validation runs inside the write
  transaction, under the policy write lock, so nothing can change between
  the checks and the writes; the audit entries (one per changed subscriber)
  are written in the same transaction.
* **Upsert semantics.** An account in the file ends up with exactly the
  file's name, type, opt-out and attachments; accounts not in the file are
  untouched. Attachments kept by an update keep their ids (only the
  difference is written), so re-importing an export changes nothing.
* **Fast enough for a whole ISP.** Core ``executemany`` statements, not ORM
  objects; one pass over the rows for checking; see scripts/bench_import.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import netaddr
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from op25b_app.service.audit import AuditRecorder, encode_state
from op25b_app.db.engine import insert_many
from op25b_app.db.models import (
    Attachment,
    ConnectionType,
    Subscriber,
    Switch,
    SwitchUplink,
    make_match_key,
)
from op25b_app.service.policy_service import (
    Conflict,
    MtaIndex,
    ServiceError,
    ValidationError,
    attachment_taken,
    check_account,
    check_exempt_reason,
    check_future,
    check_subscriber_name,
    check_subscriber_port,
    parse_dpid,
    parse_port,
    parse_prefix_text,
    parse_time,
    parse_vlan,
    subscriber_state,
    unknown_switch,
    unknown_type,
)

log = logging.getLogger(__name__)

# The ORM classes declare ``__table__`` as a generic FromClause; these are Tables.
_SUBSCRIBERS = cast(sa.Table, Subscriber.__table__)
_ATTACHMENTS = cast(sa.Table, Attachment.__table__)

#: The record fields, in the documented CSV column order.
RECORD_FIELDS: tuple[str, ...] = (
    "account",
    "name",
    "type",
    "dpid",
    "port",
    "vlan",
    "prefixes",
    "exempt",
    "exempt_reason",
    "exempt_until",
)

#: ``progress(phase, done, total)``; phases "check" and "write".
ImportProgress = Callable[[str, int, int], None]

#: Keys per lookup query. SQLite: an IN (...) list well below its bound-parameter
#: limit on old versions. PostgreSQL: one array parameter (``= ANY``), so the
#: statement text and its planning do not grow with the chunk.
_CHUNK = 900
_PG_CHUNK = 20_000
#: After writing this many rows on PostgreSQL, refresh the planner statistics
#: of the tables written (see ``apply_import``).
_ANALYZE_AFTER_ROWS = 5_000
_PROGRESS_EVERY = 5000
_TRUE = frozenset({"true"})
_FALSE = frozenset({"false", ""})


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """One attachment point of one subscriber, every field as text (a CSV row).

    ``line`` says where the record came from (CSV line number), for errors.
    """

    account: str
    name: str = ""
    type: str = ""
    dpid: str = ""
    port: str = ""
    vlan: str = ""
    prefixes: str = ""
    exempt: str = ""
    exempt_reason: str = ""
    exempt_until: str = ""
    line: int | None = None

    @classmethod
    def from_values(cls, values: Sequence[str], line: int | None = None) -> SubscriberRecord:
        """A record from the ten fields in ``RECORD_FIELDS`` order."""
        return cls(
            values[0], values[1], values[2], values[3], values[4],
            values[5], values[6], values[7], values[8], values[9], line,
        )

    def values(self) -> tuple[str, ...]:
        """The fields in ``RECORD_FIELDS`` order."""
        return (
            self.account,
            self.name,
            self.type,
            self.dpid,
            self.port,
            self.vlan,
            self.prefixes,
            self.exempt,
            self.exempt_reason,
            self.exempt_until,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ImportProblem:
    """One bad field of one line: where, which field, what value, why."""

    line: int | None
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = "" if self.line is None else f"line {self.line}: "
        return f"{where}field '{self.field}' value '{self.value}': {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


class ImportRejected(ServiceError):
    """The import was refused and nothing was written; ``problems`` lists every bad line."""

    def __init__(self, problems: Sequence[ImportProblem], source: str = "") -> None:
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        #: Where the records came from (a file name), for the caller's messages.
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        lines = {p.line for p in self.problems}
        return f"{len(lines)} bad line(s), nothing imported; first: {self.problems[0]}"


@dataclasses.dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed (or, with ``dry_run``, would change)."""

    dry_run: bool
    rows: int
    accounts: int
    added: int
    updated: int
    unchanged: int
    attachments_added: int
    attachments_removed: int
    #: The policy revision after the import (None for a dry run).
    revision: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- parsing


@dataclasses.dataclass(slots=True)
class _Row:
    """A record whose fields parsed; DB-independent facts only."""

    line: int | None
    record: SubscriberRecord
    #: (dpid, port, vlan), or None for "no attachment".
    point: tuple[int, int, int | None] | None
    #: (network, text as given, canonical text) per prefix; empty means "any source".
    networks: list[tuple[netaddr.IPNetwork, str, str]]
    #: match_key -> (field, value to blame in errors, canonical prefix or None).
    keys: dict[str, tuple[str, str, str | None]]


@dataclasses.dataclass(slots=True)
class _Account:
    """One account of the file, with the subscriber-level fields of its first line."""

    account: str
    line: int | None
    name: str
    type_name: str
    exempt: bool
    reason: str | None
    until: dt.datetime | None
    until_raw: str
    rows: list[_Row]


class _Problems:
    """Collects problems; knows which lines already failed."""

    def __init__(self, prior: Iterable[ImportProblem] = ()) -> None:
        self.items: list[ImportProblem] = list(prior)

    def add(self, line: int | None, error: ServiceError | ValidationError) -> None:
        field = getattr(error, "field", "?")
        value = getattr(error, "value", "")
        reason = getattr(error, "reason", str(error))
        self.items.append(ImportProblem(line, field, "" if value is None else str(value), reason))

    def add_text(self, line: int | None, field: str, value: str, reason: str) -> None:
        self.items.append(ImportProblem(line, field, value, reason))


def _parse_exempt(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError("exempt", value, "must be true or false")


def _parse_subscriber_fields(
    record: SubscriberRecord, tz: dt.tzinfo | None, problems: _Problems
) -> tuple[str, str, bool, str | None, dt.datetime | None] | None:
    """(name, type, exempt, reason, until) of a record, or None after recording problems."""
    line = record.line
    ok = True
    name = record.name
    try:
        name = check_subscriber_name(record.name)
    except ValidationError as error:
        problems.add(line, error)
        ok = False
    type_name = record.type.strip()
    if not type_name:
        problems.add_text(line, "type", record.type, "must not be empty")
        ok = False
    exempt: bool | None = None
    try:
        exempt = _parse_exempt(record.exempt)
    except ValidationError as error:
        problems.add(line, error)
        ok = False
    reason: str | None = None
    until: dt.datetime | None = None
    if exempt is None:
        pass  # whether reason/until are allowed depends on it: nothing more to say
    elif exempt:
        try:
            reason = check_exempt_reason("exempt_reason", record.exempt_reason)
        except ValidationError as error:
            problems.add(line, error)
            ok = False
        if record.exempt_until.strip():
            try:
                until = parse_time(record.exempt_until, "exempt_until", tz)
            except ValidationError as error:
                problems.add(line, error)
                ok = False
    else:
        for field, value in (
            ("exempt_reason", record.exempt_reason),
            ("exempt_until", record.exempt_until),
        ):
            if value.strip():
                problems.add_text(line, field, value, "only allowed with exempt=true")
                ok = False
    return (name, type_name, bool(exempt), reason, until) if ok else None


def _parse_point(record: SubscriberRecord, problems: _Problems) -> _Row | None:
    """The attachment part of a record, or None after recording problems."""
    line = record.line
    if not record.dpid.strip() and not record.port.strip():
        for field, value in (("vlan", record.vlan), ("prefixes", record.prefixes)):
            if value.strip():
                problems.add_text(line, field, value, "needs a dpid and port")
                return None
        return _Row(line, record, None, [], {})
    ok = True
    dpid = port = 0
    vlan: int | None = None
    for field, value in (("dpid", record.dpid), ("port", record.port)):
        if not value.strip():
            problems.add_text(line, field, value, "must not be empty when "
                              f"{'port' if field == 'dpid' else 'dpid'} is given")
            ok = False
    try:
        dpid = parse_dpid(record.dpid)
    except ValidationError as error:
        if record.dpid.strip():
            problems.add(line, error)
        ok = False
    try:
        port = parse_port(record.port)
    except ValidationError as error:
        if record.port.strip():
            problems.add(line, error)
        ok = False
    try:
        vlan = parse_vlan(record.vlan)
    except ValidationError as error:
        problems.add(line, error)
        ok = False
    networks: list[tuple[netaddr.IPNetwork, str, str]] = []
    for text in record.prefixes.split():
        try:
            network, canonical = parse_prefix_text(text, "prefixes")
            networks.append((network, text, canonical))
        except ValidationError as error:
            problems.add(line, error)
            ok = False
    if not ok:
        return None
    keys: dict[str, tuple[str, str, str | None]] = {}
    if not networks:
        keys[make_match_key(dpid, port, vlan, None)] = ("port", record.port, None)
    for _network, text, canonical in networks:
        key = make_match_key(dpid, port, vlan, canonical)
        if key in keys:
            problems.add_text(line, "prefixes", text, "listed twice")
            ok = False
        keys[key] = ("prefixes", text, canonical)
    if not ok:
        return None
    return _Row(line, record, (dpid, port, vlan), networks, keys)


def _group(
    records: Sequence[SubscriberRecord],
    tz: dt.tzinfo | None,
    problems: _Problems,
    failed: list[tuple[str, _Row | None]],
) -> dict[str, _Account]:
    """Parse every record and group them by account (first line's fields win).

    Records whose subscriber fields are bad go to ``failed`` (with their
    attachment, if that parsed) so their database checks still run: the
    operator should learn about every bad field of a line in one go.
    """
    accounts: dict[str, _Account] = {}
    for record in records:
        line = record.line
        try:
            account = check_account(record.account)
        except ValidationError as error:
            problems.add(line, error)
            account = ""
        fields = _parse_subscriber_fields(record, tz, problems)
        row = _parse_point(record, problems)
        if fields is None or not account:
            failed.append((account, row if row is not None else _Row(line, record, None, [], {})))
            continue
        name, type_name, exempt, reason, until = fields
        group = accounts.get(account)
        if group is None:
            group = _Account(account, line, name, type_name, exempt, reason, until,
                             record.exempt_until, [])
            accounts[account] = group
        else:
            _check_same_subscriber(group, record, fields, problems)
        if row is not None:
            group.rows.append(row)
    return accounts


def _check_same_subscriber(
    group: _Account,
    record: SubscriberRecord,
    fields: tuple[str, str, bool, str | None, dt.datetime | None],
    problems: _Problems,
) -> None:
    """Rows of one account must agree on the subscriber's own fields."""
    first = (group.name, group.type_name, group.exempt, group.reason, group.until)
    raw = {
        "name": record.name,
        "type": record.type,
        "exempt": record.exempt,
        "exempt_reason": record.exempt_reason,
        "exempt_until": record.exempt_until,
    }
    for field, mine, theirs in zip(raw, fields, first, strict=True):
        if mine != theirs:
            problems.add_text(
                record.line,
                field,
                raw[field],
                f"differs from line {group.line} of account '{group.account}' "
                f"('{'' if theirs is None else theirs}')",
            )


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass(slots=True)
class _Existing:
    id: int
    name: str
    type_id: int
    exempt: bool
    reason: str | None
    until: dt.datetime | None
    #: match_key -> attachment id
    attachments: dict[str, int]


@dataclasses.dataclass(slots=True)
class _SwitchFacts:
    id: int
    name: str
    role: str
    uplinks: frozenset[int]


@dataclasses.dataclass(slots=True)
class _Plan:
    """Everything to write, computed from the file and the database."""

    accounts: dict[str, _Account]
    existing: dict[str, _Existing]
    types: dict[str, int]
    type_names: dict[int, str]
    switches: dict[int, _SwitchFacts]
    added: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    attachments_added: int = 0
    attachments_removed: int = 0
    rows: int = 0


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _lookups(
    session: Session, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> Iterator[sa.ColumnElement[bool]]:
    """``column`` IN values, as a few conditions each covering one chunk."""
    if session.get_bind().dialect.name == "postgresql":
        array_type = postgresql.ARRAY(column.type)
        for chunk in _chunks(values, _PG_CHUNK):
            yield column == sa.any_(sa.bindparam(None, list(chunk), type_=array_type))
    else:
        for chunk in _chunks(values):
            yield column.in_(chunk)


def _load_switches(session: Session) -> dict[int, _SwitchFacts]:
    uplinks: dict[int, set[int]] = {}
    for switch_id, port in session.execute(sa.select(SwitchUplink.switch_id, SwitchUplink.port)):
        uplinks.setdefault(switch_id, set()).add(port)
    return {
        dpid: _SwitchFacts(row_id, name, role, frozenset(uplinks.get(row_id, ())))
        for row_id, dpid, name, role in session.execute(
            sa.select(Switch.id, Switch.dpid, Switch.name, Switch.role)
        )
    }


def _load_existing(session: Session, accounts: Sequence[str]) -> dict[str, _Existing]:
    su = Subscriber.__table__
    at = Attachment.__table__
    existing: dict[str, _Existing] = {}
    by_id: dict[int, _Existing] = {}
    for condition in _lookups(session, su.c.account, accounts):
        for row_id, account, name, type_id, exempt, reason, until in session.execute(
            sa.select(
                su.c.id, su.c.account, su.c.name, su.c.type_id, su.c.exempt,
                su.c.exempt_reason, su.c.exempt_until,
            ).where(condition)
        ):
            entry = _Existing(row_id, name, type_id, bool(exempt), reason, until, {})
            existing[account] = entry
            by_id[row_id] = entry
    ids = list(by_id)
    for condition in _lookups(session, at.c.subscriber_id, ids):
        for att_id, subscriber_id, key in session.execute(
            sa.select(at.c.id, at.c.subscriber_id, at.c.match_key).where(condition)
        ):
            by_id[subscriber_id].attachments[key] = att_id
    return existing


def _load_owners(session: Session, keys: Sequence[str]) -> dict[str, str]:
    at = Attachment.__table__
    su = Subscriber.__table__
    owners: dict[str, str] = {}
    for condition in _lookups(session, at.c.match_key, keys):
        owners.update(
            session.execute(
                sa.select(at.c.match_key, su.c.account)
                .select_from(at.join(su, at.c.subscriber_id == su.c.id))
                .where(condition)
            ).all()
        )
    return owners


def plan_import(
    session: Session,
    records: Sequence[SubscriberRecord],
    *,
    tz: dt.tzinfo | None,
    now: dt.datetime,
    prior_problems: Sequence[ImportProblem] = (),
    progress: ImportProgress | None = None,
) -> _Plan:
    """Check every record against the rules and the database; raise ``ImportRejected``.

    Runs inside the caller's transaction (the write transaction for a real
    import, so nothing can change between these checks and the writes).
    """
    problems = _Problems(prior_problems)
    total = len(records)
    failed: list[tuple[str, _Row | None]] = []
    accounts = _group(records, tz, problems, failed)
    types = dict(session.execute(sa.select(ConnectionType.name, ConnectionType.id)).all())
    plan = _Plan(
        accounts=accounts,
        existing=_load_existing(session, list(accounts)),
        types=types,
        type_names={v: k for k, v in types.items()},
        switches=_load_switches(session),
        rows=total,
    )
    mtas = MtaIndex.load(session)
    file_keys = {key for group in accounts.values() for row in group.rows for key in row.keys}
    file_keys.update(key for _account, row in failed if row is not None for key in row.keys)
    owners = _load_owners(session, list(file_keys))

    seen: dict[str, tuple[int | None, str]] = {}
    checked = 0
    for group in accounts.values():
        if group.type_name not in types:
            problems.add(group.line, unknown_type(group.type_name, types))
        old = plan.existing.get(group.account)
        if group.until is not None and (old is None or old.until != group.until):
            # An unchanged past end date is kept (re-importing an export
            # must be a no-op); a new one is refused like `exempt --until`.
            try:
                check_future("exempt_until", group.until_raw, group.until, now)
            except ValidationError as error:
                problems.add(group.line, error)
        empty_rows = [r for r in group.rows if r.point is None]
        if empty_rows and len(group.rows) > 1:
            problems.add_text(empty_rows[0].line, "dpid", "",
                              f"account '{group.account}' has attachments on other lines; "
                              "a line without dpid/port means 'no attachments'")
        for row in group.rows:
            checked += 1
            if progress is not None and checked % _PROGRESS_EVERY == 0:
                progress("check", checked, total)
            if row.point is None:
                continue
            _check_row(row, group.account, plan, mtas, owners, seen, problems)
    for account, failed_row in failed:
        # Lines already known bad: report their other bad fields too.
        assert failed_row is not None
        type_name = failed_row.record.type.strip()
        if type_name and type_name not in types:
            problems.add(failed_row.line, unknown_type(type_name, types))
        if failed_row.point is not None:
            _check_row(failed_row, account, plan, mtas, owners, seen, problems)
    if progress is not None:
        progress("check", total, total)
    if problems.items:
        raise ImportRejected(problems.items)
    _diff(plan)
    return plan


def _check_row(
    row: _Row,
    account: str,
    plan: _Plan,
    mtas: MtaIndex,
    owners: dict[str, str],
    seen: dict[str, tuple[int | None, str]],
    problems: _Problems,
) -> None:
    assert row.point is not None
    dpid, port, _vlan = row.point
    record = row.record
    switch = plan.switches.get(dpid)
    if switch is None:
        problems.add(row.line, unknown_switch("dpid", record.dpid))
        return
    try:
        check_subscriber_port(switch.name, switch.role, switch.uplinks, record.dpid,
                              record.port, port)
    except ValidationError as error:
        problems.add(row.line, error)
        return
    for network, text, _canonical in row.networks:
        try:
            mtas.check("prefixes", text, network)
        except Conflict as error:
            problems.add(row.line, error)
    for key, (field, value, _prefix) in row.keys.items():
        first = seen.get(key)
        if first is not None:
            problems.add_text(row.line, field, value,
                              f"same attachment ({key}) as line {first[0]} "
                              f"(account '{first[1]}')")
            continue
        seen[key] = (row.line, account)
        owner = owners.get(key)
        if owner is not None and owner != account and owner not in plan.accounts:
            problems.add(row.line, attachment_taken(field, value, owner))


def _diff(plan: _Plan) -> None:
    """Sort the file's accounts into added / updated / unchanged."""
    for account, group in plan.accounts.items():
        old = plan.existing.get(account)
        new_keys = {k for r in group.rows for k in r.keys}
        if old is None:
            plan.added.append(account)
            plan.attachments_added += len(new_keys)
            continue
        old_keys = old.attachments.keys()
        same = (
            old.name == group.name
            and old.type_id == plan.types[group.type_name]
            and old.exempt == group.exempt
            and (old.reason or None) == group.reason
            and old.until == group.until
            and old_keys == new_keys
        )
        if same:
            plan.unchanged += 1
        else:
            plan.updated.append(account)
            plan.attachments_added += len(new_keys - old_keys)
            plan.attachments_removed += len(old_keys - new_keys)


# --------------------------------------------------------------------------- write


def apply_import(
    session: Session,
    plan: _Plan,
    recorder: AuditRecorder,
    *,
    now: dt.datetime,
    source: str = "",
    progress: ImportProgress | None = None,
) -> None:
    """Write a checked plan: deletes first (so a match can move between accounts), then
    subscriber updates, new subscribers, new attachments, and the audit entries."""
    conn = session.connection()
    su = _SUBSCRIBERS
    at = _ATTACHMENTS
    total = len(plan.added) + len(plan.updated)
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress("write", done, total)

    stale: list[int] = []
    for account in plan.updated:
        old = plan.existing[account]
        new_keys = {k for r in plan.accounts[account].rows for k in r.keys}
        stale.extend(att_id for key, att_id in old.attachments.items() if key not in new_keys)
    for condition in _lookups(session, at.c.id, stale):
        conn.execute(sa.delete(at).where(condition))

    if plan.updated:
        conn.execute(
            sa.update(su)
            .where(su.c.id == sa.bindparam("b_id"))
            .values(
                name=sa.bindparam("b_name"),
                type_id=sa.bindparam("b_type_id"),
                exempt=sa.bindparam("b_exempt"),
                exempt_reason=sa.bindparam("b_reason"),
                exempt_until=sa.bindparam("b_until", type_=su.c.exempt_until.type),
                updated_at=sa.bindparam("b_now", type_=su.c.updated_at.type),
            ),
            [
                {
                    "b_id": plan.existing[a].id,
                    "b_name": plan.accounts[a].name,
                    "b_type_id": plan.types[plan.accounts[a].type_name],
                    "b_exempt": plan.accounts[a].exempt,
                    "b_reason": plan.accounts[a].reason,
                    "b_until": plan.accounts[a].until,
                    "b_now": now,
                }
                for a in plan.updated
            ],
        )
        tick(len(plan.updated))

    ids: dict[str, int] = {a: plan.existing[a].id for a in plan.updated}
    for chunk in _chunks(plan.added, 10_000):
        rows = [
            {
                "account": a,
                "name": plan.accounts[a].name,
                "type_id": plan.types[plan.accounts[a].type_name],
                "exempt": plan.accounts[a].exempt,
                "exempt_reason": plan.accounts[a].reason,
                "exempt_until": plan.accounts[a].until,
                "created_at": now,
                "updated_at": now,
            }
            for a in chunk
        ]
        insert_many(conn, su, rows)
        for condition in _lookups(session, su.c.account, chunk):
            ids.update(session.execute(sa.select(su.c.account, su.c.id).where(condition)).all())
        tick(len(chunk))

    attachment_rows: list[dict[str, Any]] = []
    for account in (*plan.updated, *plan.added):
        existing = plan.existing.get(account)
        old_keys = existing.attachments if existing is not None else {}
        subscriber_id = ids[account]
        for row in plan.accounts[account].rows:
            if row.point is None:
                continue
            dpid, port, vlan = row.point
            switch_id = plan.switches[dpid].id
            for key, (_field, _value, prefix) in row.keys.items():
                if key in old_keys:
                    continue
                attachment_rows.append(
                    {
                        "subscriber_id": subscriber_id,
                        "switch_id": switch_id,
                        "port": port,
                        "vlan": vlan,
                        "prefix": prefix,
                        "match_key": key,
                    }
                )
    insert_many(conn, at, attachment_rows)

    _record_audit(plan, recorder, source)
    written = len(stale) + len(plan.updated) + len(plan.added) + len(attachment_rows)
    if conn.dialect.name == "postgresql" and written >= _ANALYZE_AFTER_ROWS:
        # A bulk load leaves the planner believing the tables are as small
        # as before until autovacuum catches up (up to a minute or more);
        # meanwhile each keyed lookup of the next import, and the
        # controller's switch-scoped reads, fall back to sequential scans
        # (measured: a no-op re-import right after a 100k import took 13 s
        # instead of 3 s). ANALYZE is transactional and takes ~0.1 s here.
        conn.exec_driver_sql("ANALYZE subscribers, attachments")


def _record_audit(plan: _Plan, recorder: AuditRecorder, source: str) -> None:
    """One entry per changed subscriber (before/after), plus one for the import itself."""
    for account in plan.updated:
        old = plan.existing[account]
        before = subscriber_state(
            account, old.name, plan.type_names.get(old.type_id, str(old.type_id)),
            old.exempt, old.reason, old.until, old.attachments,
        )
        recorder.record_encoded(
            "subscriber", account, "import-update", encode_state(before),
            encode_state(_new_state(plan, account)), account,
        )
    for account in plan.added:
        recorder.record_encoded(
            "subscriber", account, "import-add", None,
            encode_state(_new_state(plan, account)), account,
        )
    if plan.added or plan.updated:
        recorder.record(
            "import",
            source,
            "import",
            None,
            {
                "rows": plan.rows,
                "added": len(plan.added),
                "updated": len(plan.updated),
                "unchanged": plan.unchanged,
                "attachments_added": plan.attachments_added,
                "attachments_removed": plan.attachments_removed,
            },
        )


def _new_state(plan: _Plan, account: str) -> dict[str, Any]:
    group = plan.accounts[account]
    return subscriber_state(
        account, group.name, group.type_name, group.exempt, group.reason, group.until,
        (k for r in group.rows for k in r.keys),
    )


def result_of(plan: _Plan, *, dry_run: bool, revision: int | None) -> ImportResult:
    """The ``ImportResult`` describing ``plan``."""
    return ImportResult(
        dry_run=dry_run,
        rows=plan.rows,
        accounts=len(plan.accounts),
        added=len(plan.added),
        updated=len(plan.updated),
        unchanged=plan.unchanged,
        attachments_added=plan.attachments_added,
        attachments_removed=plan.attachments_removed,
        revision=revision,
    )


# --------------------------------------------------------------------------- export


def export_records(session: Session, tz: dt.tzinfo | None) -> list[SubscriberRecord]:
    """Every subscriber as records (one per attachment point), by account.

    The output re-imports as a no-op: prefixes of one point share a record,
    an "any source" attachment at a point that also has prefixes gets its own
    record, and times carry their offset (in ``tz``, else UTC).
    """
    su = Subscriber.__table__
    ct = ConnectionType.__table__
    at = Attachment.__table__
    sw = Switch.__table__
    points: dict[int, dict[tuple[int, int, int], list[str | None]]] = {}
    for subscriber_id, dpid, port, vlan, prefix in session.execute(
        sa.select(at.c.subscriber_id, sw.c.dpid, at.c.port, at.c.vlan, at.c.prefix)
        .select_from(at.join(sw, at.c.switch_id == sw.c.id))
    ):
        points.setdefault(subscriber_id, {}).setdefault(
            (dpid, port, -1 if vlan is None else vlan), []
        ).append(prefix)
    zone = tz or dt.UTC
    records: list[SubscriberRecord] = []
    for subscriber_id, account, name, type_name, exempt, reason, until in session.execute(
        sa.select(
            su.c.id, su.c.account, su.c.name, ct.c.name, su.c.exempt, su.c.exempt_reason,
            su.c.exempt_until,
        )
        .select_from(su.join(ct, su.c.type_id == ct.c.id))
        .order_by(su.c.account)
    ):
        common = SubscriberRecord(
            account=account,
            name=name,
            type=type_name,
            exempt="true" if exempt else "false",
            exempt_reason=(reason or "") if exempt else "",
            exempt_until=until.astimezone(zone).isoformat() if exempt and until else "",
        )
        mine = points.get(subscriber_id)
        if not mine:
            records.append(common)
            continue
        for (dpid, port, vlan), prefixes in sorted(mine.items()):
            point = dataclasses.replace(
                common, dpid=f"{dpid:#x}", port=str(port), vlan="" if vlan < 0 else str(vlan)
            )
            if None in prefixes:
                records.append(point)
            given = sorted((p for p in prefixes if p is not None), key=lambda p: (":" in p, p))
            if given:
                records.append(dataclasses.replace(point, prefixes=" ".join(given)))
    return records
