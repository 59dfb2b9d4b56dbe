"""PostgreSQL: direct SQL on ``global_enforcement`` is recorded in the audit trail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Migration 0003 gave every policy table of its time a statement-level trigger
that records rows written *without* op25b's ``op25b.actor`` setting (i.e. by
an operator's SQL client) as "direct SQL (role)". ``global_enforcement``
arrived later (0004), so a hand-made ``UPDATE global_enforcement SET
mode = 'monitor'`` - which turns blocking off on every switch that inherits
the global mode - showed only as an unexplained revision gap. This adds the
same kind of trigger for it, under the entity and key op25b's own
``enforcement set`` uses ("enforcement", "global"), so the abuse desk sees who
switched enforcement and from what to what. The table has one row, so every
statement is recorded with full before/after rows.

SQLite cannot tell one session from another inside a trigger; there the
revision-gap report of 0003 still applies.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must not change when the code moves on).
ACTOR_SETTING = "op25b.actor"
_FUNCTION = "op25b_sql_audit_global_enforcement"
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


def upgrade() -> None:
    """Install the trigger (PostgreSQL only; named to fire after the revision trigger)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            rev bigint;
            who text := 'direct SQL (' || session_user || ')';
        BEGIN
            -- Written by op25b's service layer, which audits it itself.
            IF coalesce(current_setting('{ACTOR_SETTING}', true), '') <> '' THEN
                RETURN NULL;
            END IF;
            SELECT revision INTO rev FROM policy_revision WHERE id = 1;
            IF TG_OP = 'TRUNCATE' THEN
                INSERT INTO audit_log ({_COLUMNS}) VALUES (clock_timestamp(), who,
                    'sql-truncate', 'enforcement', 'global', NULL, NULL, NULL, rev - 1, rev);
            ELSIF TG_OP = 'INSERT' THEN
                INSERT INTO audit_log ({_COLUMNS})
                SELECT clock_timestamp(), who, 'sql-insert', 'enforcement', 'global', NULL,
                       NULL, to_jsonb(n)::text, rev - 1, rev FROM new_rows n;
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO audit_log ({_COLUMNS})
                SELECT clock_timestamp(), who, 'sql-delete', 'enforcement', 'global', NULL,
                       to_jsonb(o)::text, NULL, rev - 1, rev FROM old_rows o;
            ELSE
                INSERT INTO audit_log ({_COLUMNS})
                SELECT clock_timestamp(), who, 'sql-update', 'enforcement', 'global', NULL,
                       to_jsonb(o)::text, to_jsonb(n)::text, rev - 1, rev
                FROM old_rows o FULL JOIN new_rows n ON o.id = n.id;
            END IF;
            RETURN NULL;
        END;
        $$
        """
    )
    for event, suffix, referencing in _EVENTS:
        op.execute(
            f"CREATE TRIGGER {_FUNCTION}_{suffix} AFTER {event} ON global_enforcement "
            f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        )


def downgrade() -> None:
    """Drop the trigger and its function."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for _event, suffix, _referencing in _EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS {_FUNCTION}_{suffix} ON global_enforcement")
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
