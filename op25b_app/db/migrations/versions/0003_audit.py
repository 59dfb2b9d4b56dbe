"""Audit trail: ``audit_log``, a baseline entry, and (PostgreSQL) direct-SQL triggers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

The service layer writes one ``audit_log`` row per change in the same
transaction as the change, with the policy revision the transaction started
from and ended at. Every policy write advances the revision (migration 0001),
so a revision step no audit row accounts for was made outside op25b: that is
how ``op25b audit`` reports "direct SQL (revision X→Y)" on every backend. The
baseline row inserted here marks the revision the trail starts at, so changes
made before this migration are not reported as direct SQL.

PostgreSQL can do better: the service layer sets the transaction-local
setting ``op25b.actor``; statement-level triggers (with transition tables, so
a bulk statement costs one trigger call, not one per row) record the rows of
any write made *without* it, with the database role as the actor. Each such
transaction gets full before/after rows for its first
``SQL_AUDIT_DETAIL_ROWS`` rows and one summary row per statement after that,
so a hand-made bulk load does not double its size in the audit log. The
triggers are named ``op25b_sql_…`` so they fire after the revision triggers
(``op25b_rev_…``; PostgreSQL fires triggers in name order) and see the
transaction's final revision. SQLite cannot tell one session from another
inside a trigger, so there only the revision-gap report applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must not change when the code moves on).
ACTOR_SETTING = "op25b.actor"
ROWS_SETTING = "op25b.sql_audit_rows"
SQL_AUDIT_DETAIL_ROWS = 1000

#: table -> (entity name, key expression, account expression, update join),
#: where "r" stands for the row alias.
_TABLES: dict[str, tuple[str, str, str, str]] = {
    "subscribers": ("subscriber", "r.account", "r.account", "o.id = n.id"),
    "attachments": (
        "attachment",
        "r.match_key",
        "(SELECT s.account FROM subscribers s WHERE s.id = r.subscriber_id)",
        "o.id = n.id",
    ),
    "switches": ("switch", "'0x' || to_hex(r.dpid)", "NULL", "o.id = n.id"),
    "switch_uplinks": (
        "switch_uplink",
        "coalesce('0x' || to_hex((SELECT s.dpid FROM switches s WHERE s.id = r.switch_id)), "
        "'switch#' || r.switch_id) || ' uplink ' || r.port",
        "NULL",
        "o.switch_id = n.switch_id AND o.port = n.port",
    ),
    "connection_types": ("connection_type", "r.name", "NULL", "o.id = n.id"),
    "mtas": ("mta", "r.name", "NULL", "o.id = n.id"),
}
_EVENTS = (
    ("INSERT", "ins", "REFERENCING NEW TABLE AS new_rows"),
    ("UPDATE", "upd", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("DELETE", "del", "REFERENCING OLD TABLE AS old_rows"),
    ("TRUNCATE", "trunc", ""),
)
_COLUMNS = (
    "at, actor, action, entity, entity_key, account, before_state, after_state, "
    "revision_before, revision_after"
)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table and its baseline row; install the PostgreSQL triggers."""
    audit_log = op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_key", sa.String(200), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("before_state", sa.Text, nullable=True),
        sa.Column("after_state", sa.Text, nullable=True),
        sa.Column("revision_before", sa.BigInteger, nullable=True),
        sa.Column("revision_after", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_account", "audit_log", ["account"])
    op.create_index("ix_audit_log_revision_after", "audit_log", ["revision_after"])
    bind = op.get_bind()
    current = bind.execute(sa.text("SELECT revision FROM policy_revision WHERE id = 1")).scalar()
    now = dt.datetime.now(dt.UTC)
    if bind.dialect.name == "sqlite":
        # op25b stores UTC text without a zone on SQLite (models.UTCDateTime).
        now = now.replace(tzinfo=None)
    op.bulk_insert(
        audit_log,
        [
            {
                "at": now,
                "actor": "op25b db upgrade",
                "action": "baseline",
                "entity": "audit",
                "entity_key": "",
                "account": None,
                "before_state": None,
                "after_state": None,
                "revision_before": current,
                "revision_after": current,
            }
        ],
    )
    if bind.dialect.name == "postgresql":
        _create_pg_triggers()


def _row_insert(action: str, entity: str, key: str, account: str, source: str,
                before: str, after: str) -> str:
    return (
        f"INSERT INTO audit_log ({_COLUMNS}) "
        f"SELECT clock_timestamp(), who, '{action}', '{entity}', coalesce({key}, ''), "
        f"{account}, {before}, {after}, rev - 1, rev FROM {source};"
    )


def _create_pg_triggers() -> None:
    for table, (entity, key, account, join) in _TABLES.items():
        def on(alias: str, expression: str) -> str:
            return expression.replace("r.", f"{alias}.")

        inserted = _row_insert("sql-insert", entity, on("r", key), on("r", account),
                               "new_rows r", "NULL", "to_jsonb(r)::text")
        deleted = _row_insert("sql-delete", entity, on("r", key), on("r", account),
                              "old_rows r", "to_jsonb(r)::text", "NULL")
        updated = _row_insert(
            "sql-update", entity,
            f"coalesce({on('n', key)}, {on('o', key)})",
            f"coalesce({on('n', account)}, {on('o', account)})",
            f"old_rows o FULL JOIN new_rows n ON {join}",
            "to_jsonb(o)::text", "to_jsonb(n)::text",
        )
        op.execute(
            f"""
            CREATE FUNCTION op25b_sql_audit_{table}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                rev bigint;
                done bigint;
                changed bigint;
                who text := 'direct SQL (' || session_user || ')';
            BEGIN
                -- Written by op25b's service layer, which audits it itself.
                IF coalesce(current_setting('{ACTOR_SETTING}', true), '') <> '' THEN
                    RETURN NULL;
                END IF;
                SELECT revision INTO rev FROM policy_revision WHERE id = 1;
                IF TG_OP = 'TRUNCATE' THEN
                    INSERT INTO audit_log ({_COLUMNS}) VALUES (clock_timestamp(), who,
                        'sql-truncate', '{entity}', '(all rows)', NULL, NULL, NULL, rev - 1, rev);
                    RETURN NULL;
                END IF;
                IF TG_OP = 'DELETE' THEN
                    SELECT count(*) INTO changed FROM old_rows;
                ELSE
                    SELECT count(*) INTO changed FROM new_rows;
                END IF;
                IF changed = 0 THEN
                    RETURN NULL;
                END IF;
                done := coalesce(nullif(current_setting('{ROWS_SETTING}', true), ''), '0')::bigint;
                IF done + changed > {SQL_AUDIT_DETAIL_ROWS} THEN
                    INSERT INTO audit_log ({_COLUMNS}) VALUES (clock_timestamp(), who,
                        'sql-' || lower(TG_OP), '{entity}', changed || ' rows', NULL, NULL,
                        json_build_object('rows', changed)::text, rev - 1, rev);
                ELSIF TG_OP = 'INSERT' THEN
                    {inserted}
                ELSIF TG_OP = 'DELETE' THEN
                    {deleted}
                ELSE
                    {updated}
                END IF;
                PERFORM set_config('{ROWS_SETTING}', (done + changed)::text, true);
                RETURN NULL;
            END;
            $$
            """
        )
        for event, suffix, referencing in _EVENTS:
            op.execute(
                f"CREATE TRIGGER op25b_sql_audit_{table}_{suffix} AFTER {event} ON {table} "
                f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION op25b_sql_audit_{table}()"
            )


def downgrade() -> None:
    """Drop the triggers, their functions and the table."""
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            for _event, suffix, _referencing in _EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS op25b_sql_audit_{table}_{suffix} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS op25b_sql_audit_{table}()")
    op.drop_index("ix_audit_log_revision_after", table_name="audit_log")
    op.drop_index("ix_audit_log_account", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
