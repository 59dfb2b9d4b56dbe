"""Opening the subscriber database and managing its schema, for the interfaces.

The CLI and the API hold an ``Engine`` as an opaque handle; everything they
need to do with the database itself (open it from a URL, check or upgrade
the schema, report the schema and policy revisions) is here, so they never
import ``op25b_app.db``.
"""

from __future__ import annotations

import logging
from typing import Any

from alembic.util import CommandError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from op25b_app.db import migrate
from op25b_app.db.engine import DEFAULT_DB_URL, make_engine, safe_url
from op25b_app.db.snapshot_loader import read_revision
from op25b_app.service.errors import SchemaNotCurrent, ValidationError
from op25b_app.service.transactions import database_errors

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DB_URL",
    "SchemaNotCurrent",
    "check_schema",
    "open_database",
    "safe_url",
    "schema_status",
    "upgrade_schema",
]


def open_database(url: str, field: str = "db") -> Engine:
    """An engine for ``url``; a URL that names no usable database is a ValidationError."""
    try:
        return make_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise ValidationError(field, safe_url(url),
                              f"not a usable database URL ({error})") from None


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaNotCurrent`` unless the schema is the one this code needs."""
    with database_errors(engine):
        try:
            migrate.ensure_current(engine)
        except migrate.SchemaNotCurrent as error:
            raise SchemaNotCurrent(str(error)) from None


def upgrade_schema(engine: Engine) -> str | None:
    """Create or upgrade the schema (idempotent); returns the revision reached."""
    with database_errors(engine):
        try:
            return migrate.upgrade(engine)
        except CommandError as error:
            raise SchemaNotCurrent(f"cannot upgrade the schema: {error}") from None


def schema_status(engine: Engine) -> dict[str, Any]:
    """The schema revision (stored and this code's) and the policy revision."""
    with database_errors(engine):
        current = migrate.current_revision(engine)
        policy_revision = None
        if current is not None:
            with engine.connect() as conn:
                policy_revision = read_revision(conn)
    return {"schema_revision": current, "schema_head": migrate.head_revision(),
            "policy_revision": policy_revision}
