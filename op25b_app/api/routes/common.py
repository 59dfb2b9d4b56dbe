"""What every resource router shares: paging, the per-request service, OpenAPI responses.

Kept in one place so that the routers stay declarations of their operations
and cannot drift apart: every list pages the same way, every operation acts
through a ``PolicyService`` that the audit trail attributes to the calling
token, and every operation documents the error statuses of its kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request
from sqlalchemy.engine import Engine

from op25b_app.api import schemas
from op25b_app.api.auth import TOKEN_SCOPE_KEY
from op25b_app.api.config import TokenEntry
from op25b_app.api.errors import error_responses
from op25b_app.api.request_line import path_value
from op25b_app.service import NotFound, PolicyService

T = TypeVar("T")

# --------------------------------------------------------------------------- paging

DEFAULT_PAGE = 100
MAX_PAGE = 1000
#: Largest offset accepted: far beyond any ISP's subscriber count, and inside
#: the 64-bit integer SQL OFFSET takes (a bigger one was a 500 from the driver).
MAX_OFFSET = 1_000_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]


def page(items: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    """A page cut from a whole list.

    Only for the short lists (switches, connection types, MTAs: a handful to a
    few hundred rows); subscribers are paged in SQL and use ``page_body``.
    """
    return page_body(items[offset:offset + limit], len(items), limit, offset)


def page_body(items: Sequence[T], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The JSON of every list route: the page's items and where they sit in the whole."""
    return {"items": [_as_dict(i) for i in items], "total": total, "limit": limit,
            "offset": offset}


def _as_dict(item: Any) -> Any:
    """A service view as its dict; anything else (already a dict) as it is."""
    return item.to_dict() if hasattr(item, "to_dict") else item


# --------------------------------------------------------------------------- the service


class ServiceFactory:
    """How each request's ``PolicyService`` is made: database, clock and time zone.

    Made once by ``create_app`` and kept in the application's state, so the
    routers can be plain module-level objects rather than closures over it.
    """

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] | None,
                 tz: dt.tzinfo | None) -> None:
        """``clock`` None: the service's own (UTC now); ``tz`` as ``create_app``'s."""
        self._engine = engine
        self._options: dict[str, Any] = {"tz": tz}
        if clock is not None:
            self._options["clock"] = clock

    def install(self, app: FastAPI) -> None:
        """Make ``app``'s requests get their service from this factory."""
        app.state.op25b_services = self

    def for_token(self, token: TokenEntry) -> PolicyService:
        """A service whose writes the audit trail attributes to ``token``."""
        return PolicyService(self._engine, actor=f"token:{token.name}", **self._options)


def request_service(request: Request) -> PolicyService:
    """The dependency behind ``Service``: the calling token's service for this request."""
    factory: ServiceFactory = request.app.state.op25b_services
    token: TokenEntry = request.scope[TOKEN_SCOPE_KEY]
    return factory.for_token(token)


#: A route parameter of this type receives the request's ``PolicyService``.
Service = Annotated[PolicyService, Depends(request_service)]


def _name_parameter(
    name: Annotated[str, Path(description="Name.", pattern=schemas.NO_NUL_PATTERN)],
) -> str:
    """The ``{name}`` path parameter as the client meant it (see ``request_line``)."""
    return path_value(name)


#: A route parameter of this type receives the ``{name}`` path segment, decoded.
NamePath = Annotated[str, Depends(_name_parameter)]


def find_one(views: Iterable[T], matches: Callable[[T], bool], kind: str, field: str,
             value: object) -> T:
    """The first of ``views`` that ``matches``; ``NotFound(kind, field, value)`` if none.

    For the short lists, which the service offers only whole: a lookup by
    name or dpid answers 404 exactly as the service's own lookups do.
    """
    for view in views:
        if matches(view):
            return view
    raise NotFound(kind, field, value)


# --------------------------------------------------------------------------- OpenAPI responses

# Error responses per kind of operation, documented so a client (and the
# contract test) know every status an operation can answer.
READ = error_responses(400, 401, 413, 503)
READ_ONE = error_responses(400, 401, 404, 413, 503)
CREATE = error_responses(400, 401, 403, 409, 413, 503)
WRITE_ONE = error_responses(400, 401, 403, 404, 409, 413, 503)

Responses = dict[int | str, dict[str, Any]]


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: how a response feeds the parameters of a follow-up operation."""
    return {"operationId": operation_id, "parameters": parameters}


def with_links(base: Responses, status: int, description: str,
               **links: dict[str, Any]) -> Responses:
    """``base`` plus the success response ``status`` carrying ``links``.

    Links let a client (and the contract test's stateful phase) go from a
    created object to the operations on it without guessing identifiers.
    """
    return {**base, status: {"description": description, "links": links}}


#: Link parameters that name an object by the ``name`` of the response body.
BY_NAME = {"name": "$response.body#/name"}
