"""Connection types: what decides whether OP25B applies to a subscriber at all.

Blocking is a property of how a subscriber connects (dynamic broadband yes,
a business line with its own MTA no), not of each subscriber, so moving a
customer between products is one type change rather than an edit of rules.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.core.limits import MAX_DESCRIPTION_CHARS
from op25b_app.db.models import ConnectionType
from op25b_app.service.audit_states import connection_type_state
from op25b_app.service.errors import Conflict, ValidationError
from op25b_app.service.rules import unknown_type
from op25b_app.service.texts import TYPE_NAME_RE, check_free_text, check_text
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import ConnectionTypeView, connection_type_view

log = logging.getLogger(__name__)


class ConnectionTypeOps(ServiceBase):
    """Mixed into ``PolicyService``: defining and listing connection types."""

    def add_connection_type(
        self, name: str, blocked: bool, description: str = ""
    ) -> ConnectionTypeView:
        """Define a connection type; ``blocked`` says whether OP25B applies."""
        check_text("name", name, 32, TYPE_NAME_RE)
        if not isinstance(blocked, bool):
            raise ValidationError("blocked", blocked, "must be true or false")
        description = check_free_text("description", description, MAX_DESCRIPTION_CHARS)
        with self._write() as session:
            if session.scalar(sa.select(ConnectionType.id).where(ConnectionType.name == name)):
                raise Conflict("name", name, "a connection type with this name already exists")
            ctype = ConnectionType(name=name, blocked=blocked, description=description)
            session.add(ctype)
            session.flush()
            view = connection_type_view(ctype)
            self._audit(session).record(
                "connection_type", name, "add", None,
                connection_type_state(name, blocked, description),
            )
        log.info("connection type %s added (blocked=%s)", name, blocked)
        return view

    def list_connection_types(self) -> list[ConnectionTypeView]:
        """All connection types, by name."""
        with self._read() as session:
            rows = session.scalars(sa.select(ConnectionType).order_by(ConnectionType.name))
            return [connection_type_view(t) for t in rows]


def type_by_name(session: Session, type_name: str) -> ConnectionType:
    """The connection type called ``type_name``; the error lists the known ones."""
    if not isinstance(type_name, str) or not type_name.isprintable():
        raise unknown_type(str(type_name), session.scalars(sa.select(ConnectionType.name)))
    ctype = session.scalar(sa.select(ConnectionType).where(ConnectionType.name == type_name))
    if ctype is None:
        raise unknown_type(type_name, session.scalars(sa.select(ConnectionType.name)))
    return ctype
