"""What every part of ``PolicyService`` shares: who writes, when, and one transaction a call.

``ServiceBase`` holds the engine, the clock, the actor and the time zone, and
opens the two kinds of transaction every public method uses:

* ``_write()`` holds the policy write lock from its first check to its
  commit (so two writers cannot both pass an overlap check), records the
  audit entries in the same transaction, and rolls back on any error, so
  nothing is ever half-written.
* ``_read()`` sees one database state for all its SELECTs.

Both translate the database's own failures into the service's errors, so no
interface has to know SQLAlchemy: a constraint the checks missed becomes
``Conflict``, a database that cannot be reached (or answers with an
operational error) becomes ``DatabaseUnavailable`` naming the URL without
its password, a writer that waited its whole lock timeout ``DatabaseBusy``,
and a stored value that cannot be read ``StoredDataError``. Read-only
questions that the ``db`` package answers from the engine itself use
``_database_errors()`` for the same translation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from op25b_app.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    is_lock_timeout,
    lock_timeout_of,
    read_session,
    safe_url,
    write_session,
)
from op25b_app.db.models import StoredValueError, utc_now
from op25b_app.service.audit import AuditRecorder, default_actor
from op25b_app.service.capacity import change_mark, check_capacity
from op25b_app.service.errors import Conflict, DatabaseBusy, DatabaseUnavailable, StoredDataError

log = logging.getLogger(__name__)

#: Where a write transaction's ``AuditRecorder`` lives in ``Session.info``.
_RECORDER = "op25b_audit"


class ServiceBase:
    """The state and transaction contexts every service mixin builds on."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        actor: str | None = None,
        tz: dt.tzinfo | None = None,
    ) -> None:
        """``actor`` is who the audit trail names (default: the OS user);
        ``tz`` is the zone of times given without an offset (default: none,
        such times are refused)."""
        self._engine = engine
        self._clock = clock
        self._actor = actor or default_actor()
        self._tz = tz

    @property
    def actor(self) -> str:
        """Who this service's writes are recorded as."""
        return self._actor

    @property
    def tz(self) -> dt.tzinfo | None:
        """The zone of times given without an offset, if configured."""
        return self._tz

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction whose audit entries are written just before it commits.

        Whatever it changed, a switch with a capacity it touched is compiled
        before the commit and the write refused if the switch would overflow
        (``capacity``).
        """
        with self._database_errors(), write_session(self._engine) as session:
            recorder = AuditRecorder(session, self._actor, self._clock)
            recorder.begin()
            session.info[_RECORDER] = recorder
            mark = change_mark(session)
            yield session
            # Before the audit rows: a refused write leaves no trace but its error.
            check_capacity(session, mark, self._clock())
            recorder.finish()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction that sees one database state."""
        with self._database_errors(), read_session(self._engine) as session:
            yield session

    @staticmethod
    def _audit(session: Session) -> AuditRecorder:
        """The audit recorder of the write transaction ``session`` belongs to."""
        recorder: AuditRecorder = session.info[_RECORDER]
        return recorder

    def _database_errors(self) -> contextlib.AbstractContextManager[None]:
        """Translate database failures inside the block into the service's errors."""
        return database_errors(self._engine)


@contextlib.contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Turn constraint violations into ``Conflict`` and outages into ``DatabaseUnavailable``.

    The checks run under the write lock, so a constraint violation only
    happens when the database enforces a rule the service forgot to check;
    even then the operator must get one line, not a traceback. An outage is
    the operator's to retry, and the interfaces say so (CLI exit 1, API 503).
    """
    try:
        yield
    except IntegrityError as error:
        raise Conflict("database", "", f"constraint violated: {first_line(error)}") from error
    except (OperationalError, InterfaceError) as error:
        unavailable = DatabaseUnavailable(safe_url(engine.url), first_line(error))
        if is_lock_timeout(error):
            waited = lock_timeout_of(engine)
            unavailable = DatabaseBusy(safe_url(engine.url),
                                       SQLITE_BUSY_TIMEOUT_MS / 1000 if waited is None else waited)
        log.debug("%s", unavailable, exc_info=True)
        raise unavailable from error
    except DataError as error:
        # A value the driver cannot convert: input the checks let through, or
        # a stored value it cannot return (PostgreSQL's 'infinity' as a time).
        raise StoredDataError(None, "", f"the database could not handle a value: "
                                        f"{first_line(error)}") from error
    except StoredValueError as error:
        raise StoredDataError(None, error.value, f"malformed stored data: {error} "
                                                  "(written outside op25b? fix the row)") from error


def first_line(error: BaseException) -> str:
    """The first line of the driver's message (SQLAlchemy appends SQL and a help link)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
