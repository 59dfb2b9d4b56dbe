"""The second half of checking a bulk import: the file against the database, and the plan.

Runs inside the caller's transaction (for a real import, the write
transaction, under the policy write lock), so nothing can change between
these checks and the writes. Every database rule (unknown type or switch,
uplink port, attachment owned by another account, MTA overlap, opt-out in
the past) is the shared one from ``rules``; only the data it is checked
against is preloaded in bulk (``import_lookups``). The result is an
``ImportPlan``: which accounts to add, which to update, which are unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.core.limits import MAX_ATTACHMENTS_PER_SUBSCRIBER
from op25b_app.db.models import ConnectionType
from op25b_app.service.errors import Conflict, ValidationError
from op25b_app.service.import_lookups import (
    StoredSubscriber,
    SwitchFacts,
    load_owners,
    load_stored,
    load_switches,
)
from op25b_app.service.import_parse import AccountGroup, ParsedRow, Problems, group_records
from op25b_app.service.import_records import (
    ImportProblem,
    ImportProgress,
    ImportRejected,
    ImportResult,
    SubscriberRecord,
)
from op25b_app.service.rules import (
    MtaIndex,
    attachment_taken,
    check_future,
    check_subscriber_port,
    unknown_switch,
    unknown_type,
)

_PROGRESS_EVERY = 5000


@dataclasses.dataclass(slots=True)
class ImportPlan:
    """Everything to write, computed from the file and the database."""

    accounts: dict[str, AccountGroup]
    stored: dict[str, StoredSubscriber]
    types: dict[str, int]
    type_names: dict[int, str]
    switches: dict[int, SwitchFacts]
    added: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    attachments_added: int = 0
    attachments_removed: int = 0
    rows: int = 0

    def new_keys(self, account: str) -> set[str]:
        """The match keys the file gives ``account``."""
        return {key for row in self.accounts[account].rows for key in row.keys}

    def new_carries(self, account: str) -> dict[str, str]:
        """match_key -> carries text, for the attachments the file gives ``account``
        that carry encapsulations (the form ``StoredSubscriber.carries`` has)."""
        return {key: row.carries for row in self.accounts[account].rows if row.carries
                for key in row.keys}

    def carries_changed(self, account: str) -> list[tuple[int, str | None]]:
        """(attachment id, new carries) of the stored attachments ``account`` keeps
        whose carried encapsulations the file changes: updated in place, so the
        entry keeps its id (cookie, counters)."""
        stored = self.stored[account]
        kept = self.new_keys(account)
        new = self.new_carries(account)
        return [(att_id, new.get(key)) for key, att_id in stored.attachments.items()
                if key in kept and new.get(key) != stored.carries.get(key)]

    def result(self, *, dry_run: bool, revision: int | None) -> ImportResult:
        """The ``ImportResult`` describing this plan."""
        return ImportResult(
            dry_run=dry_run,
            rows=self.rows,
            accounts=len(self.accounts),
            added=len(self.added),
            updated=len(self.updated),
            unchanged=self.unchanged,
            attachments_added=self.attachments_added,
            attachments_removed=self.attachments_removed,
            revision=revision,
        )


def plan_import(
    session: Session,
    records: Sequence[SubscriberRecord],
    *,
    tz: dt.tzinfo | None,
    now: dt.datetime,
    prior_problems: Sequence[ImportProblem] = (),
    progress: ImportProgress | None = None,
) -> ImportPlan:
    """Check every record against the rules and the database; raise ``ImportRejected``."""
    problems = Problems(prior_problems)
    failed: list[tuple[str, ParsedRow]] = []
    accounts = group_records(records, tz, problems, failed)
    types = dict(session.execute(sa.select(ConnectionType.name, ConnectionType.id)).all())
    plan = ImportPlan(
        accounts=accounts,
        stored=load_stored(session, list(accounts)),
        types=types,
        type_names={v: k for k, v in types.items()},
        switches=load_switches(session),
        rows=len(records),
    )
    mtas = MtaIndex.load(session)
    file_keys = {key for group in accounts.values() for row in group.rows for key in row.keys}
    file_keys.update(key for _account, row in failed for key in row.keys)
    checker = _Checker(plan, problems, mtas, load_owners(session, list(file_keys)))
    checker.check_accounts(now, progress)
    checker.check_failed(failed)
    if progress is not None:
        progress("check", plan.rows, plan.rows)
    if problems.items:
        raise ImportRejected(problems.items)
    _diff(plan)
    return plan


class _Checker:
    """The database checks of one file, with what they share across its lines."""

    def __init__(
        self, plan: ImportPlan, problems: Problems, mtas: MtaIndex, owners: dict[str, str]
    ) -> None:
        self.plan = plan
        self.problems = problems
        self.mtas = mtas
        #: match key -> the account storing it now
        self.owners = owners
        #: match key -> (line, account) of its first use in the file
        self.seen: dict[str, tuple[int | None, str]] = {}

    def check_accounts(self, now: dt.datetime, progress: ImportProgress | None) -> None:
        """Check each account of the file, and each of its attachment lines."""
        checked = 0
        for group in self.plan.accounts.values():
            self._check_account(group, now)
            for row in group.rows:
                checked += 1
                if progress is not None and checked % _PROGRESS_EVERY == 0:
                    progress("check", checked, self.plan.rows)
                if row.point is not None:
                    self._check_row(row, group.account)

    def check_failed(self, failed: Sequence[tuple[str, ParsedRow]]) -> None:
        """Lines already known bad: report their other bad fields too."""
        types = self.plan.types
        for account, row in failed:
            type_name = row.record.type.strip()
            if type_name and type_name not in types:
                self.problems.add(row.line, unknown_type(type_name, types))
            if row.point is not None:
                self._check_row(row, account)

    def _check_account(self, group: AccountGroup, now: dt.datetime) -> None:
        problems = self.problems
        if group.type_name not in self.plan.types:
            problems.add(group.line, unknown_type(group.type_name, self.plan.types))
        old = self.plan.stored.get(group.account)
        if group.until is not None and (old is None or old.until != group.until):
            # An unchanged past end date is kept (re-importing an export
            # must be a no-op); a new one is refused like `exempt --until`.
            problems.attempt(group.line, check_future, "exempt_until", group.until_raw,
                             group.until, now)
        attachments = sum(len(r.keys) for r in group.rows)
        if attachments > MAX_ATTACHMENTS_PER_SUBSCRIBER:
            problems.add_text(group.line, "account", group.account,
                              f"has {attachments} attachments in the file, more than "
                              f"{MAX_ATTACHMENTS_PER_SUBSCRIBER} for one subscriber")
        empty_rows = [r for r in group.rows if r.point is None]
        if empty_rows and len(group.rows) > 1:
            problems.add_text(empty_rows[0].line, "dpid", "",
                              f"account '{group.account}' has attachments on other lines; "
                              "a line without dpid/port means 'no attachments'")

    def _check_row(self, row: ParsedRow, account: str) -> None:
        assert row.point is not None
        dpid, port, _vlan = row.point
        record = row.record
        switch = self.plan.switches.get(dpid)
        if switch is None:
            self.problems.add(row.line, unknown_switch("dpid", record.dpid))
            return
        try:
            check_subscriber_port(switch.name, switch.role, switch.uplinks, record.dpid,
                                  record.port, port)
        except ValidationError as error:
            self.problems.add(row.line, error)
            return
        for network, text, _canonical in row.networks:
            try:
                self.mtas.check("prefixes", text, network)
            except Conflict as error:
                self.problems.add(row.line, error)
        for key, (field, value, _prefix) in row.keys.items():
            first = self.seen.get(key)
            if first is not None:
                self.problems.add_text(row.line, field, value,
                                       f"same attachment ({key}) as line {first[0]} "
                                       f"(account '{first[1]}')")
                continue
            self.seen[key] = (row.line, account)
            owner = self.owners.get(key)
            if owner is not None and owner != account and owner not in self.plan.accounts:
                self.problems.add(row.line, attachment_taken(field, value, owner))


def _diff(plan: ImportPlan) -> None:
    """Sort the file's accounts into added / updated / unchanged."""
    for account, group in plan.accounts.items():
        old = plan.stored.get(account)
        new_keys = plan.new_keys(account)
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
            and old.carries == plan.new_carries(account)
        )
        if same:
            plan.unchanged += 1
        else:
            plan.updated.append(account)
            plan.attachments_added += len(new_keys - old_keys)
            plan.attachments_removed += len(old_keys - new_keys)
