"""Initial schema: policy tables, seed connection types, revision triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-01

The ``policy_revision`` triggers are the reason the controller notices every
change, including ones typed into a SQL client: they run in the writer's own
transaction, so a revision number is never visible before the data it counts.
A transaction that writes policy tables commits a higher revision than it
started with; by how much is unspecified (SQLite: once per row written;
PostgreSQL: once per transaction). PostgreSQL also sends
``NOTIFY op25b_policy, '<revision>'`` at commit so the controller need not poll.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the values in models.py: a migration must not change when
# the models move on.
MAX_PORT = 0xFFFFFF00
POLICY_TABLES = (
    "switches",
    "switch_uplinks",
    "connection_types",
    "subscribers",
    "attachments",
    "mtas",
)
NOTIFY_CHANNEL = "op25b_policy"
PG_FUNCTION = "op25b_bump_policy_revision"
PG_BUMPED_SETTING = "op25b.revision_bumped"


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the schema, seed it, then install the triggers."""
    op.create_table(
        "switches",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("dpid", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False, server_default="edge"),
        sa.Column("created_at", _ts(), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_switches"),
        sa.UniqueConstraint("dpid", name="uq_switches_dpid"),
        sa.UniqueConstraint("name", name="uq_switches_name"),
        sa.CheckConstraint("role IN ('edge', 'core')", name="ck_switches_role"),
    )
    op.create_table(
        "switch_uplinks",
        sa.Column("switch_id", sa.Integer, nullable=False),
        sa.Column("port", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("switch_id", "port", name="pk_switch_uplinks"),
        sa.ForeignKeyConstraint(
            ["switch_id"],
            ["switches.id"],
            ondelete="CASCADE",
            name="fk_switch_uplinks_switch_id_switches",
        ),
        sa.CheckConstraint(f"port BETWEEN 1 AND {MAX_PORT}", name="ck_switch_uplinks_port_range"),
    )
    connection_types = op.create_table(
        "connection_types",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_connection_types"),
        sa.UniqueConstraint("name", name="uq_connection_types_name"),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("type_id", sa.Integer, nullable=False),
        sa.Column("exempt", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("exempt_reason", sa.Text, nullable=True),
        sa.Column("exempt_until", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", _ts(), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("account", name="uq_subscribers_account"),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["connection_types.id"],
            ondelete="RESTRICT",
            name="fk_subscribers_type_id_connection_types",
        ),
    )
    op.create_index("ix_subscribers_type_id", "subscribers", ["type_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("switch_id", sa.Integer, nullable=False),
        sa.Column("port", sa.BigInteger, nullable=False),
        sa.Column("vlan", sa.Integer, nullable=True),
        sa.Column("prefix", sa.String(64), nullable=True),
        sa.Column("match_key", sa.String(160), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.UniqueConstraint("match_key", name="uq_attachments_match_key"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            ondelete="CASCADE",
            name="fk_attachments_subscriber_id_subscribers",
        ),
        sa.ForeignKeyConstraint(
            ["switch_id"],
            ["switches.id"],
            ondelete="RESTRICT",
            name="fk_attachments_switch_id_switches",
        ),
        sa.CheckConstraint(f"port BETWEEN 1 AND {MAX_PORT}", name="ck_attachments_port_range"),
        sa.CheckConstraint(
            "vlan IS NULL OR vlan BETWEEN 0 AND 4095", name="ck_attachments_vlan_range"
        ),
    )
    op.create_index("ix_attachments_subscriber_id", "attachments", ["subscriber_id"])
    op.create_index("ix_attachments_switch_id", "attachments", ["switch_id"])
    op.create_table(
        "mtas",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mtas"),
        sa.UniqueConstraint("name", name="uq_mtas_name"),
    )
    policy_revision = op.create_table(
        "policy_revision",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("changed_at", _ts(), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_policy_revision"),
        sa.CheckConstraint("id = 1", name="ck_policy_revision_single_row"),
    )

    op.bulk_insert(
        connection_types,
        [
            {
                "id": 1,
                "name": "broadband",
                "blocked": True,
                "description": "Always-on broadband: outbound TCP/25 only to the ISP's MTAs",
            },
            {
                "id": 2,
                "name": "dialup",
                "blocked": False,
                "description": "Dial-up: exempt from OP25B",
            },
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Explicit ids above do not advance the serial sequence.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('connection_types', 'id'), "
            "(SELECT max(id) FROM connection_types))"
        )
    op.bulk_insert(policy_revision, [{"id": 1, "revision": 1}])
    _create_triggers()


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # SQLite only has row-level triggers: a 1000-row statement advances
        # the revision by 1000, which is harmless (it is only compared).
        bump = (
            "UPDATE policy_revision SET revision = revision + 1, "
            "changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1;"
        )
        for table in POLICY_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER op25b_rev_{table}_{event.lower()} "
                    f"AFTER {event} ON {table} FOR EACH ROW BEGIN {bump} END"
                )
    elif dialect == "postgresql":
        # Once per transaction, not per statement: every bump is an UPDATE of
        # the same row, and PostgreSQL keeps each version until COMMIT, so
        # per-statement bumps make a 100k-row import quadratic (measured:
        # 8000 single-row INSERTs in one transaction took 0.9 s, 2000 took
        # 0.12 s). A transaction-local setting remembers the bump; it is
        # undone with a rolled-back savepoint, exactly like the UPDATE itself.
        op.execute(
            f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                new_revision bigint;
            BEGIN
                IF current_setting('{PG_BUMPED_SETTING}', true) = 'on' THEN
                    RETURN NULL;
                END IF;
                UPDATE policy_revision
                   SET revision = revision + 1, changed_at = clock_timestamp()
                 WHERE id = 1
                RETURNING revision INTO new_revision;
                -- Delivered at COMMIT only, so listeners never see a
                -- revision whose data they cannot read yet.
                PERFORM pg_notify('{NOTIFY_CHANNEL}', new_revision::text);
                PERFORM set_config('{PG_BUMPED_SETTING}', 'on', true);
                RETURN NULL;
            END;
            $$
            """
        )
        for table in POLICY_TABLES:
            op.execute(
                f"CREATE TRIGGER op25b_rev_{table} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
    else:
        raise NotImplementedError(
            f"op25b has revision triggers for sqlite and postgresql, not {dialect}"
        )


def downgrade() -> None:
    """Drop everything ``upgrade`` created (triggers go with their tables)."""
    op.drop_table("mtas")
    op.drop_index("ix_attachments_switch_id", table_name="attachments")
    op.drop_index("ix_attachments_subscriber_id", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_subscribers_type_id", table_name="subscribers")
    op.drop_table("subscribers")
    op.drop_table("connection_types")
    op.drop_table("switch_uplinks")
    op.drop_table("switches")
    op.drop_table("policy_revision")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
