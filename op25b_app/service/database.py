"""Opening the subscriber database and managing its schema, for the interfaces.

The CLI and the API hold an ``Engine`` as an opaque handle; everything they
need to do with the database itself (open it from a URL, check or upgrade
the schema, report the schema and policy revisions) is here, so they never
import ``op25b_app.db``.

Opening is where a URL's mistakes are named (an unsupported backend, a
malformed URL, a SQLite file that does not exist), before any driver turns
them into a traceback. What a command may do to the file decides how it is
opened (``OpenMode``): a read never creates a file and works on a file the
user may only read; only ``db init`` creates one (and its directory).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Literal

from sqlalchemy.engine import URL, Engine

from op25b_app.core.limits import DEFAULT_LOCK_TIMEOUT_S
from op25b_app.db import schema_versions
from op25b_app.db.defaults import DEFAULT_DB_URL
from op25b_app.db.engine import make_engine, normalise_url, safe_url, sqlite_path
from op25b_app.service import audit
from op25b_app.service.errors import (
    DatabaseUnavailable,
    NoDatabase,
    SchemaNotCurrent,
    ValidationError,
)
from op25b_app.service.texts import check_utf8
from op25b_app.service.transactions import database_errors

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DB_URL",
    "OpenMode",
    "SchemaNotCurrent",
    "check_schema",
    "open_database",
    "safe_url",
    "schema_status",
    "upgrade_schema",
]

#: ``read``: the file must exist, opened read-only; ``write``: it must exist;
#: ``create``: it may be created, with its directory (``op25b db init``).
OpenMode = Literal["read", "write", "create"]
#: The drivers op25b is tested with (``postgresql://`` means psycopg 3).
_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}
#: The password part of a URL's userinfo, to keep it out of messages.
_PASSWORD = re.compile(r"://[^/@:]*:([^/@]+)@")
#: Mode of a directory ``db init`` creates for the database file.
DB_DIRECTORY_MODE = 0o750


def open_database(
    url: str,
    field: str = "db",
    *,
    mode: OpenMode = "write",
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT_S,
) -> Engine:
    """An engine for ``url``; a URL that names no usable database is a ValidationError.

    ``lock_timeout``: seconds a writer waits for another writer's lock
    (``core.limits.DEFAULT_LOCK_TIMEOUT_S`` unless the operator says).
    """
    parsed = _checked_url(url, field)
    path = sqlite_path(parsed)
    if path is not None:
        _check_sqlite_file(url, path, mode)
    try:
        return make_engine(parsed, lock_timeout=lock_timeout, read_only=mode == "read")
    except Exception as error:  # noqa: BLE001 - a driver's refusal, named without the password
        raise ValidationError(field, safe_url(url),
                              f"not a usable database URL ({_first_line(error, url)})") from None


def _checked_url(url: str, field: str) -> URL:
    """``url`` parsed, on a backend and driver op25b supports."""
    try:
        check_utf8(field, url)
    except ValidationError as error:
        raise ValidationError(field, safe_url(url), error.reason) from None
    try:
        parsed = normalise_url(url)
        backend = parsed.get_backend_name()
    except Exception as error:  # noqa: BLE001 - SQLAlchemy raises several kinds for bad URLs
        raise ValidationError(field, safe_url(url),
                              f"not a usable database URL ({_first_line(error, url)}); e.g. "
                              "sqlite:////var/lib/op25b/op25b.db or "
                              "postgresql://op25b@dbhost/op25b") from None
    if backend not in _DRIVERS:
        raise ValidationError(field, safe_url(url),
                              f"not a usable database URL: op25b stores its data in SQLite "
                              f"(sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB), "
                              f"not {backend}")
    driver = parsed.get_driver_name()
    if driver not in _DRIVERS[backend]:
        raise ValidationError(field, safe_url(url),
                              f"not a usable database URL: driver {driver} is not supported; "
                              f"write {backend}:// "
                              f"(op25b uses {_DRIVERS[backend][0]})")
    return parsed


def _check_sqlite_file(url: str, path: str, mode: OpenMode) -> None:
    """A SQLite file must exist unless ``db init`` creates it (and its directory)."""
    if os.path.isdir(path):
        raise ValidationError("db", safe_url(url), f"{path} is a directory, not a database file")
    if os.path.exists(path):
        return
    if mode != "create":
        raise NoDatabase(safe_url(url), path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=DB_DIRECTORY_MODE)
        except OSError as error:
            raise DatabaseUnavailable(
                safe_url(url), f"cannot create the directory {directory} for the database: "
                f"{error.strerror or error}") from None
        log.info("created directory %s for the database", directory)


def _first_line(error: BaseException, url: str) -> str:
    """The first line of a driver's complaint about ``url``, never showing its password.

    SQLAlchemy quotes the whole URL in some messages; then only the kind of
    error is shown.
    """
    text = str(error).strip()
    secret = _PASSWORD.search(url)
    if url in text or (secret is not None and secret.group(1) in text):
        return type(error).__name__
    return text.splitlines()[0] if text else type(error).__name__


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaNotCurrent`` unless the schema is the one this code needs."""
    with database_errors(engine):
        try:
            schema_versions.ensure_current(engine)
        except schema_versions.SchemaNotCurrent as error:
            raise SchemaNotCurrent(str(error)) from None


def upgrade_schema(engine: Engine, *, force: bool = False) -> str | None:
    """Create or upgrade the schema (idempotent); returns the revision reached.

    A database that has tables but no op25b schema is someone else's: op25b
    does not add its tables to it unless ``force``.
    """
    # Alembic is imported here only: it is slow to import and only these
    # commands migrate.
    from alembic.util import CommandError

    from op25b_app.db import migrate

    with database_errors(engine):
        current = schema_versions.current_revision(engine)
        others = [] if current is not None or force else schema_versions.other_tables(engine)
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5
                                             else "")
            raise SchemaNotCurrent(
                f"database {safe_url(engine.url)} is not empty and has no op25b schema "
                f"(tables: {shown}): refusing to add op25b's tables to it (--force to do it "
                "anyway)")
        try:
            return migrate.upgrade(engine)
        except schema_versions.SchemaNotCurrent as error:
            raise SchemaNotCurrent(str(error)) from None
        except CommandError as error:
            raise SchemaNotCurrent(f"cannot upgrade the schema: {error}") from None


def schema_status(engine: Engine) -> dict[str, Any]:
    """The schema revision (stored and this code's) and the policy revision."""
    with database_errors(engine):
        current = schema_versions.current_revision(engine)
        head = schema_versions.head_revision()
        policy_revision = None
        if current in schema_versions.known_revisions():
            with engine.connect() as conn:
                policy_revision = audit.policy_revision(conn)
    return {"schema_revision": current, "schema_head": head,
            "policy_revision": policy_revision}
