"""``/mtas``: register, list, look up and forget the ISP's mail relays.

TCP/25 to an MTA passes for every subscriber, so these are the exceptions to
blocking; an ISP has a few, paged in Python over the service's list.
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
    WRITE_ONE,
    Limit,
    NamePath,
    Offset,
    Service,
    find_one,
    link,
    page,
    with_links,
)

router = APIRouter(tags=["mtas"])

_CREATED = with_links(
    CREATE, 201, "Registered.", GetMta=link("getMta", **BY_NAME),
    DeleteMta=link("deleteMta", **BY_NAME))


@router.get("/mtas", operation_id="listMtas", response_model=schemas.MtaPage,
            responses=READ, summary="List the ISP's MTAs")
def list_mtas(svc: Service, limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> dict[str, Any]:
    return page(svc.list_mtas(), limit, offset)


@router.post("/mtas", operation_id="createMta", status_code=201, response_model=schemas.Mta,
             responses=_CREATED, summary="Register an MTA")
def create_mta(svc: Service, body: schemas.MtaCreate) -> dict[str, Any]:
    return svc.add_mta(body.name, body.prefix, allow_wide=body.allow_wide).to_dict()


@router.get("/mtas/{name}", operation_id="getMta", response_model=schemas.Mta,
            responses=READ_ONE, summary="Get an MTA")
def get_mta(svc: Service, name: NamePath) -> dict[str, Any]:
    return find_one(svc.list_mtas(), lambda m: m.name == name, "MTA", "name", name).to_dict()


@router.delete("/mtas/{name}", operation_id="deleteMta", response_model=schemas.Mta,
               responses=WRITE_ONE, summary="Forget an MTA")
def delete_mta(svc: Service, name: NamePath) -> dict[str, Any]:
    return svc.remove_mta(name).to_dict()
