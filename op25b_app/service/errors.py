"""The errors the service raises on purpose: bad input, missing objects, conflicts.

Every interface maps these the same way (CLI: exit 2 or 1; API: 400/404/409/503),
and each names the field and value so that an operator fixing a script, a CSV
file or a raw-SQL row knows which cell was wrong.

* ``ValidationError(field, value, reason)`` - the input itself is malformed
  or refers to something that does not exist.
* ``NotFound`` - the object the operation is about does not exist.
* ``Conflict`` - the input is well-formed but clashes with what is stored.
* ``StoredDataError`` - the *stored* data cannot be used (a row written by raw
  SQL that the compiler refuses); the request was fine.
* ``DatabaseUnavailable`` - the database cannot be reached; retry later.
  ``DatabaseBusy`` (another writer held the write lock too long) and
  ``NoDatabase`` (a SQLite file that does not exist) are kinds of it.
"""

from __future__ import annotations

from op25b_app.core.limits import MAX_ECHO_CHARS


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was.

    Errors echo the value they refuse; a megabyte-long name must still make
    a one-line message an operator can read.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class ServiceError(Exception):
    """Base of every error the service raises on purpose (bad input, not bugs)."""


class _FieldError(ServiceError):
    """An error about one input field: which field, the value given, and why.

    One shape for ``ValidationError`` and ``Conflict``, so every interface can
    echo the field and value the same way whichever of the two it caught.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(field, value, reason)

    @property
    def shown_value(self) -> str:
        """The value as messages echo it: text, cut to ``MAX_ECHO_CHARS``."""
        return clip(str(self.value))

    def __str__(self) -> str:
        return f"field '{self.field}' value '{self.shown_value}': {self.reason}"


class ValidationError(_FieldError, ValueError):
    """One input field is malformed or refers to nothing."""


class NotFound(ServiceError, LookupError):
    """The object an operation is about does not exist."""

    def __init__(self, kind: str, field: str, value: object) -> None:
        self.kind = kind
        self.field = field
        self.value = value
        super().__init__(kind, field, value)

    def __str__(self) -> str:
        return f"{self.kind} with {self.field} '{clip(str(self.value))}' not found"


class Conflict(_FieldError):
    """Well-formed input that clashes with what is already stored."""


class StoredDataError(ServiceError):
    """Stored data a query cannot use (malformed row, conflicting attachments)."""

    def __init__(self, field: str | None, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(field, value, reason)

    def __str__(self) -> str:
        return self.reason


class DatabaseUnavailable(ServiceError):
    """The database could not be reached or answered with an operational error."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(url, reason)

    def __str__(self) -> str:
        return f"database {self.url}: {self.reason}"


class SchemaNotCurrent(ServiceError):
    """The database's schema is not the one this code needs (run ``op25b db upgrade``)."""


class DatabaseBusy(DatabaseUnavailable):
    """Another writer held the policy write lock for longer than this one would wait.

    A ``DatabaseUnavailable`` (retry later, API 503) whose message says what
    was waited for and how to wait longer.
    """

    def __init__(self, url: str, waited_s: float) -> None:
        super().__init__(url, f"database busy: another writer held the policy write lock for "
                              f"{waited_s:g} s (wait longer with --lock-timeout SECONDS or "
                              "$OP25B_LOCK_TIMEOUT)")
        self.waited_s = waited_s

    def __str__(self) -> str:
        return self.reason


class NoDatabase(DatabaseUnavailable):
    """A SQLite URL names a file that does not exist (and the command must not create it)."""

    def __init__(self, url: str, path: str) -> None:
        super().__init__(url, f"no database at {path}: run 'op25b db init'")
        self.path = path

    def __str__(self) -> str:
        return self.reason
