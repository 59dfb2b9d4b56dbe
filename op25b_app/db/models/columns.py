"""Column types and storage forms every table shares (see the package docstring)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

from op25b_app.core.constants import ENCAPSULATIONS
from op25b_app.core.limits import MAX_DPID

_SIGN_BIT = 2**63
_WRAP = 2**64

#: Constraint naming convention, so Alembic migrations can name what they drop.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def dpid_to_db(dpid: int) -> int:
    """Map an unsigned 64-bit dpid onto the signed BIGINT that stores it."""
    if not 0 <= dpid <= MAX_DPID:
        raise ValueError(f"dpid {dpid} is outside 0..2**64-1")
    return dpid - _WRAP if dpid >= _SIGN_BIT else dpid


def dpid_from_db(stored: int) -> int:
    """Inverse of ``dpid_to_db``: the unsigned dpid for a stored BIGINT."""
    return stored + _WRAP if stored < 0 else stored


def canonical_prefix(text: str) -> str:
    """The storage form of a prefix: network address, no host bits.

    Raises ``netaddr.AddrFormatError`` (a ``ValueError``) for garbage.
    """
    return str(netaddr.IPNetwork(text).cidr)


def carries_to_db(kinds: Iterable[str]) -> str | None:
    """The storage form of the encapsulations an attachment carries.

    The kinds sorted and comma-separated (``mpls,qinq``), each once; None
    when there are none. One form for one set, so comparing stored text
    (import diff, audit state) compares sets. The kinds must already be
    known names of ``ENCAPSULATIONS`` (the service checks them first).
    """
    return ",".join(sorted(set(kinds))) or None


def carries_from_db(text: str | None) -> frozenset[str]:
    """Inverse of ``carries_to_db``: the kinds in stored text (None: none).

    Raises ``ValueError`` for anything that is not a comma list of known
    kinds (an empty string included: "none" is stored as NULL), because a
    row written by hand that names an unknown kind would otherwise pass
    nothing while its author believes it passes something.
    """
    if text is None:
        return frozenset()
    if text.__class__ is not str:
        raise ValueError(f"not text: {text!r}")
    kinds = text.split(",")
    if not all(kind in ENCAPSULATIONS for kind in kinds):
        raise ValueError(
            f"not a comma list of {', '.join(sorted(ENCAPSULATIONS))} (NULL for none)")
    return frozenset(kinds)


def make_match_key(dpid: int, port: int, vlan: int | None, prefix: str | None) -> str:
    """The uniqueness key of an attachment's OpenFlow match.

    ``prefix`` must already be canonical; ``*`` stands for "any".
    """
    vlan_part = "*" if vlan is None else str(vlan)
    prefix_part = "*" if prefix is None else prefix
    return f"{dpid}:{port}:{vlan_part}:{prefix_part}"


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC, on every backend.

    Naive datetimes are rejected on write because their meaning (local time?
    UTC?) is ambiguous and an exemption expiring nine hours early is a real
    outage. SQLite has no timezone type, so values are stored as UTC text and
    re-tagged with UTC when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} rejected: give a UTC offset")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Any:
        """On SQLite, read the stored text with ``as_utc`` alone.

        SQLAlchemy's own SQLite DATETIME processor would parse it first and
        fail with a bare ``ValueError`` on text written by hand, before
        ``process_result_value`` could name it.
        """
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> dt.datetime | None:
            return self.process_result_value(value, dialect)

        return process

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        try:
            return as_utc(value)
        except (ValueError, TypeError, OverflowError):
            # Only raw SQL can store this (SQLite takes any text): say so
            # instead of failing inside the ORM.
            raise StoredValueError(value, "not an ISO 8601 time") from None


class StoredValueError(ValueError):
    """A stored value (written outside op25b) that its column type cannot read."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"stored value {str(value)[:100]!r}: {reason}")


def as_utc(value: Any) -> dt.datetime | None:
    """Interpret a stored time (datetime or SQLite text) as aware UTC.

    Raises ``ValueError`` for text that is not an ISO 8601 time.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a time: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class Dpid(sa.types.TypeDecorator[int]):
    """An unsigned 64-bit dpid in a signed BIGINT (see module docstring)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: sa.Dialect) -> int | None:
        return None if value is None else dpid_to_db(int(value))

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> int | None:
        return None if value is None else dpid_from_db(int(value))


class Base(DeclarativeBase):
    """Declarative base with a naming convention shared with the migrations."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
