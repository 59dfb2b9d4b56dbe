"""A change log beside the policy revision: which rows each revision touched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

With it a controller reads only what changed since its last revision (a
subscriber added to a 100k-subscriber switch costs one subscriber, not a
reload). The same triggers that advance the revision record ``(revision,
table, row id)`` in the writer's own transaction, so a change can never be
visible without its log row. ``policy_revision.changes_from`` is the first
revision whose changes are all logged (rows below it may have been pruned):
a controller that is further behind reloads everything.

SQLite: the per-row revision triggers of every policy table are replaced by
ones that also log the row. PostgreSQL: one statement-level trigger per
table and event logs the statement's rows from its transition tables (one
INSERT ... SELECT for a 100k-row statement) after advancing the revision
once per transaction, as before; TRUNCATE logs a row id NULL (everything).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies: a migration must not change when the models move on.
TABLES = ("switches", "switch_uplinks", "connection_types", "subscribers", "attachments", "mtas",
          "global_enforcement")
#: Tables keyed by ``id``; the others log the key the loader re-reads by.
ROW_KEY = {"switch_uplinks": "switch_id"}
PG_REVISION_NOW = "op25b_revision_now"
PG_LOG = "op25b_log_changes"
PG_BUMPED_SETTING = "op25b.revision_bumped"
NOTIFY_CHANNEL = "op25b_policy"


def upgrade() -> None:
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False,
                  autoincrement=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("id", name="pk_policy_changes"),
    )
    op.create_index("ix_policy_changes_revision", "policy_changes", ["revision"])
    with op.batch_alter_table("policy_revision", recreate="never") as batch:
        batch.add_column(sa.Column("changes_from", sa.BigInteger, nullable=True))
    # Everything after the current revision is logged from now on.
    op.execute("UPDATE policy_revision SET changes_from = revision + 1")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgresql_triggers()
    else:
        raise NotImplementedError(f"no change-log triggers for {dialect}")


def _sqlite_triggers() -> None:
    bump = ("UPDATE policy_revision SET revision = revision + 1, "
            "changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1;")
    for table in TABLES:
        key = ROW_KEY.get(table, "id")
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            name = f"op25b_rev_{table}_{event.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            log = (f"INSERT INTO policy_changes (revision, table_name, row_id) VALUES "
                   f"((SELECT revision FROM policy_revision WHERE id = 1), '{table}', "
                   f"{row}.{key});")
            if event == "UPDATE":  # a key that moved is gone from where it was
                log += (f" INSERT INTO policy_changes (revision, table_name, row_id) "
                        f"SELECT revision, '{table}', OLD.{key} FROM policy_revision "
                        f"WHERE id = 1 AND OLD.{key} IS NOT NEW.{key};")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                       f"BEGIN {bump} {log} END")


def _postgresql_triggers() -> None:
    op.execute(f"""
        CREATE FUNCTION {PG_REVISION_NOW}() RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            now_revision bigint;
        BEGIN
            IF current_setting('{PG_BUMPED_SETTING}', true) = 'on' THEN
                SELECT revision INTO now_revision FROM policy_revision WHERE id = 1;
                RETURN now_revision;
            END IF;
            UPDATE policy_revision
               SET revision = revision + 1, changed_at = clock_timestamp()
             WHERE id = 1
            RETURNING revision INTO now_revision;
            PERFORM pg_notify('{NOTIFY_CHANNEL}', now_revision::text);
            PERFORM set_config('{PG_BUMPED_SETTING}', 'on', true);
            RETURN now_revision;
        END;
        $$
    """)
    op.execute(f"""
        CREATE FUNCTION {PG_LOG}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            now_revision bigint := {PG_REVISION_NOW}();
            key text := TG_ARGV[0];
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                INSERT INTO policy_changes (revision, table_name, row_id)
                VALUES (now_revision, TG_TABLE_NAME, NULL);
                RETURN NULL;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                EXECUTE format('INSERT INTO policy_changes (revision, table_name, row_id) '
                               'SELECT DISTINCT $1, $2, %I FROM new_rows', key)
                USING now_revision, TG_TABLE_NAME;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                EXECUTE format('INSERT INTO policy_changes (revision, table_name, row_id) '
                               'SELECT DISTINCT $1, $2, %I FROM old_rows', key)
                USING now_revision, TG_TABLE_NAME;
            END IF;
            RETURN NULL;
        END;
        $$
    """)
    for table in TABLES:
        key = ROW_KEY.get(table, "id")
        # Named to fire before the older op25b_rev_* triggers (PostgreSQL fires
        # same-kind triggers in name order): the revision is advanced here
        # first, and the old trigger then finds it done.
        op.execute(f"CREATE TRIGGER op25b_chg_{table}_ins AFTER INSERT ON {table} "
                   f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION {PG_LOG}('{key}')")
        op.execute(f"CREATE TRIGGER op25b_chg_{table}_upd AFTER UPDATE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_LOG}('{key}')")
        op.execute(f"CREATE TRIGGER op25b_chg_{table}_del AFTER DELETE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION {PG_LOG}('{key}')")
        op.execute(f"CREATE TRIGGER op25b_chg_{table}_trunc AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_LOG}('{key}')")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in TABLES:
            for suffix in ("ins", "upd", "del", "trunc"):
                op.execute(f"DROP TRIGGER IF EXISTS op25b_chg_{table}_{suffix} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_LOG}()")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_REVISION_NOW}()")
    elif dialect == "sqlite":
        bump = ("UPDATE policy_revision SET revision = revision + 1, "
                "changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1;")
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                name = f"op25b_rev_{table}_{event.lower()}"
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                           f"BEGIN {bump} END")
    with op.batch_alter_table("policy_revision", recreate="never") as batch:
        batch.drop_column("changes_from")
    op.drop_index("ix_policy_changes_revision", table_name="policy_changes")
    op.drop_table("policy_changes")
