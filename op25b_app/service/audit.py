"""The audit trail: who changed what, when, recorded in the transaction that changed it.

Why it is built this way:

* **Same transaction.** ``AuditRecorder`` is opened by the service layer at the
  start of every write transaction and writes its rows just before the commit,
  so an audit row exists if and only if the change does (a rolled-back change
  leaves no audit row, and a committed one cannot lose its row).
* **Revisions as a ledger.** Each row records the policy revision its
  transaction started from and ended at. Every write to a policy table
  advances the revision (database triggers), also a write typed into a SQL
  client, so a step of the revision that no audit row accounts for was made
  outside op25b; ``audit_read.read_audit`` reports it as "direct SQL (revision X→Y)".
  This works on SQLite, where a trigger cannot tell who is writing.
* **PostgreSQL knows more.** The recorder sets the transaction-local setting
  ``op25b.actor``; triggers (migration 0003) record rows written without it,
  with the database role as the actor, so those appear with their data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pwd
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from op25b_app.db.engine import insert_many
from op25b_app.db.models import AuditEntry

log = logging.getLogger(__name__)

#: How the REST API names its writers (``token:NAME``); no OS user is recorded so.
TOKEN_ACTOR_PREFIX = "token:"
#: PostgreSQL setting that marks a transaction as op25b's own (see module docstring).
ACTOR_SETTING = "op25b.actor"

_AUDIT_TABLE = cast(sa.Table, AuditEntry.__table__)
_MAX_ACTOR = 200
_MAX_KEY = 200


def default_actor() -> str:
    """The operating-system user running this process (the CLI's actor).

    Taken from the effective uid, never from the environment: ``getpass.getuser``
    believes ``$LOGNAME``/``$USER``, so ``LOGNAME=token:noc op25b ...`` would
    be recorded as an API token. A uid with no passwd entry (containers) is
    recorded as ``uid:N``, and so is a user name that would read as a token.
    """
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"
    if not name or name.startswith(TOKEN_ACTOR_PREFIX):
        return f"uid:{uid}"
    return name


def policy_revision(conn: Connection | Session) -> int:
    """The current policy revision (``snapshot_loader.read_revision``).

    Imported on first use: the loader brings the controller's row checks
    and the compiler's types, which a command that only reads never needs.
    """
    from op25b_app.db.snapshot_loader import read_revision

    return read_revision(conn)


def encode_state(state: Mapping[str, Any] | None) -> str | None:
    """The stored JSON form of a before/after state (compact, keys sorted)."""
    if state is None:
        return None
    return json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


class AuditRecorder:
    """Collects the audit entries of one write transaction and writes them at its end."""

    def __init__(self, session: Session, actor: str, clock: Callable[[], dt.datetime]) -> None:
        self._session = session
        self._actor = actor[:_MAX_ACTOR]
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self.revision_before: int | None = None
        #: Set by ``finish``: the revision the transaction commits.
        self.revision_after: int | None = None

    def begin(self) -> None:
        """Note the starting revision and tell PostgreSQL's triggers the writer is op25b.

        Must run under the write lock, before the first policy write.
        """
        conn = self._session.connection()
        self.revision_before = policy_revision(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text("SELECT set_config(:name, :actor, true)"),
                {"name": ACTOR_SETTING, "actor": self._actor},
            )

    def record(
        self,
        entity: str,
        key: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        account: str | None = None,
    ) -> None:
        """Queue one entry; ``before``/``after`` are JSON-ready states (None: absent)."""
        self.record_encoded(entity, key, action, encode_state(before), encode_state(after), account)

    def record_encoded(
        self,
        entity: str,
        key: str,
        action: str,
        before: str | None,
        after: str | None,
        account: str | None = None,
    ) -> None:
        """Queue one entry whose states are already JSON text (bulk import path)."""
        self._rows.append(
            {
                "actor": self._actor,
                "action": action,
                "entity": entity,
                "entity_key": key[:_MAX_KEY],
                "account": account,
                "before_state": before,
                "after_state": after,
            }
        )

    @property
    def pending(self) -> int:
        """How many entries are queued."""
        return len(self._rows)

    def finish(self) -> int:
        """Flush the changes, read the revision they produced, and write the entries.

        Returns the revision the transaction ends at.
        """
        self._session.flush()
        conn = self._session.connection()
        revision_after = policy_revision(conn)
        self.revision_after = revision_after
        if self._rows:
            at = self._clock()
            for row in self._rows:
                row["at"] = at
                row["revision_before"] = self.revision_before
                row["revision_after"] = revision_after
            insert_many(conn, _AUDIT_TABLE, self._rows)
            log.debug(
                "%d audit entr%s by %s (revision %s→%s)",
                len(self._rows),
                "y" if len(self._rows) == 1 else "ies",
                self._actor,
                self.revision_before,
                revision_after,
            )
        elif revision_after != self.revision_before:
            # A write op25b made but did not describe: say so, or the
            # revision-gap report would blame "direct SQL" for it.
            log.warning("policy written without an audit entry (revision %s→%s)",
                        self.revision_before, revision_after)
        self._rows = []
        return revision_after
