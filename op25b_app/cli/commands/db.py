"""``op25b db``: create, upgrade and inspect the database schema.

These are the only commands that run on a database whose schema is not
current (``main`` skips the check for this group), since they are how it
becomes current.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from op25b_app import service
from op25b_app.cli.commands import summary
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree

if TYPE_CHECKING:
    from op25b_app.service import PolicyService


def register(tree: CommandTree) -> None:
    """Add ``db init|upgrade|status``."""
    db = tree.group("db", summary("db"), "op25b db init")
    cmd = tree.command(
        db,
        "init",
        _upgrade,
        "create the database and its schema (idempotent; a SQLite file's directory too)",
        "op25b --db sqlite:////var/lib/op25b/op25b.db db init",
        mode="create",
    )
    cmd.add_argument("--force", action="store_true",
                     help="add op25b's tables to a database that already holds other tables")
    tree.command(db, "upgrade", _upgrade, "upgrade the schema to this version", "op25b db upgrade")
    tree.command(db, "status", _status, "show the schema and policy revision", "op25b db status",
                 mode="read")


def _upgrade(_service: PolicyService, args: argparse.Namespace) -> Output:
    revision = service.upgrade_schema(args.engine, force=getattr(args, "force", False))
    return Output(f"database schema at revision {revision}", {"schema_revision": revision})


def _status(_service: PolicyService, args: argparse.Namespace) -> Output:
    data = service.schema_status(args.engine)
    current, policy_revision = data["schema_revision"], data["policy_revision"]
    text = (
        f"schema revision: {current or 'empty'} (this op25b: {data['schema_head']})\n"
        f"policy revision: {policy_revision if policy_revision is not None else '-'}"
    )
    return Output(text, data)
