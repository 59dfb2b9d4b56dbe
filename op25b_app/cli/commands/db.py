"""``op25b db``: create, upgrade and inspect the database schema.

These are the only commands that run on a database whose schema is not
current (``main`` skips the check for this group), since they are how it
becomes current.
"""

from __future__ import annotations

import argparse

from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.service import PolicyService, schema_status, upgrade_schema


def register(tree: CommandTree) -> None:
    """Add ``db init|upgrade|status``."""
    db = tree.group("db", "create or upgrade the database schema", "op25b db init")
    tree.command(
        db,
        "init",
        _upgrade,
        "create the schema (idempotent)",
        "op25b --db sqlite:///op25b.db db init",
    )
    tree.command(db, "upgrade", _upgrade, "upgrade the schema to this version", "op25b db upgrade")
    tree.command(db, "status", _status, "show the schema and policy revision", "op25b db status")


def _upgrade(_service: PolicyService, args: argparse.Namespace) -> Output:
    revision = upgrade_schema(args.engine)
    return Output(f"database schema at revision {revision}", {"schema_revision": revision})


def _status(_service: PolicyService, args: argparse.Namespace) -> Output:
    data = schema_status(args.engine)
    current, policy_revision = data["schema_revision"], data["policy_revision"]
    text = (
        f"schema revision: {current or 'empty'} (this op25b: {data['schema_head']})\n"
        f"policy revision: {policy_revision if policy_revision is not None else '-'}"
    )
    return Output(text, data)
