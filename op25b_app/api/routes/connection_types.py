"""``/connection-types``: define, list and look up connection types (broadband, dial-up...).

A connection type decides whether OP25B applies to a subscriber's line; an
ISP has a handful, so they are paged in Python over the service's list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from op25b_app.api import schemas
from op25b_app.api.routes.common import (
    BY_NAME,
    CREATE,
    DEFAULT_PAGE,
    READ,
    READ_ONE,
    Limit,
    NamePath,
    Offset,
    Service,
    find_one,
    link,
    page,
    with_links,
)

router = APIRouter(tags=["connection types"])

_CREATED = with_links(
    CREATE, 201, "Defined.", GetConnectionType=link("getConnectionType", **BY_NAME))


@router.get("/connection-types", operation_id="listConnectionTypes",
            response_model=schemas.ConnectionTypePage, responses=READ,
            summary="List connection types")
def list_types(svc: Service, limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> dict[str, Any]:
    return page(svc.list_connection_types(), limit, offset)


@router.post("/connection-types", operation_id="createConnectionType", status_code=201,
             response_model=schemas.ConnectionType, responses=_CREATED,
             summary="Define a connection type")
def create_type(svc: Service, body: schemas.ConnectionTypeCreate) -> dict[str, Any]:
    return svc.add_connection_type(body.name, body.blocked, body.description).to_dict()


@router.get("/connection-types/{name}", operation_id="getConnectionType",
            response_model=schemas.ConnectionType, responses=READ_ONE,
            summary="Get a connection type")
def get_type(svc: Service, name: NamePath) -> dict[str, Any]:
    return find_one(svc.list_connection_types(), lambda t: t.name == name,
                    "connection type", "name", name).to_dict()
