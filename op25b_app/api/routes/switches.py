"""``/switches``: register, list, look up and forget switches; preview a switch's policy.

The policy preview is compiled from the database by the service, with the
options of the controller that serves the switch, never fetched from a
controller - so it answers while a controller restarts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from op25b_app.api import schemas
from op25b_app.api.errors import error_responses
from op25b_app.api.request_line import path_value
from op25b_app.api.routes.common import (
    CREATE,
    DEFAULT_PAGE,
    READ,
    READ_ONE,
    WRITE_ONE,
    Limit,
    Offset,
    Service,
    find_one,
    link,
    page,
    with_links,
)
from op25b_app.service import parse_dpid

router = APIRouter(tags=["switches"])


def _dpid_parameter(
    dpid: Annotated[str, Path(description="Datapath id, decimal or 0x-hex.")],
) -> str:
    """The ``{dpid}`` path segment as the client sent it (see ``request_line``)."""
    return path_value(dpid)


#: A route parameter of this type receives the ``{dpid}`` path segment, decoded.
DpidPath = Annotated[str, Depends(_dpid_parameter)]

#: Compiling reads stored data the compiler may refuse (409); an unknown dpid is
#: not 404 - it compiles as an unregistered switch, exactly as the controller would.
_POLICY = error_responses(400, 401, 409, 413, 503)
_BY_DPID = {"dpid": "$response.body#/dpid"}
_CREATED = with_links(
    CREATE, 201, "Registered.", GetSwitch=link("getSwitch", **_BY_DPID),
    GetSwitchPolicy=link("getSwitchPolicy", **_BY_DPID),
    DeleteSwitch=link("deleteSwitch", **_BY_DPID))


@router.get("/switches", operation_id="listSwitches", response_model=schemas.SwitchPage,
            responses=READ, summary="List switches")
def list_switches(
    svc: Service,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
    role: Annotated[schemas.RoleName | None, Query(description="Only this role.")] = None,
) -> dict[str, Any]:
    # Filtered in Python: a network has a few hundred switches at most.
    rows = [s for s in svc.list_switches() if role is None or s.role == role]
    return page(rows, limit, offset)


@router.post("/switches", operation_id="createSwitch", status_code=201,
             response_model=schemas.Switch, responses=_CREATED, summary="Register a switch")
def create_switch(svc: Service, body: schemas.SwitchCreate) -> dict[str, Any]:
    return svc.add_switch(body.dpid, body.name, body.uplinks, body.role,
                          capacity=body.capacity, compact=body.compact).to_dict()


@router.patch("/switches/{dpid}", operation_id="patchSwitch", response_model=schemas.Switch,
              responses=WRITE_ONE, summary="Change a switch's capacity or compact rendering")
def patch_switch(svc: Service, dpid: DpidPath, body: schemas.SwitchPatch) -> dict[str, Any]:
    from op25b_app.service import UNCHANGED

    given = body.model_fields_set
    return svc.set_switch(
        dpid,
        capacity=body.capacity if "capacity" in given else UNCHANGED,
        compact=UNCHANGED if body.compact is None else body.compact,
    ).to_dict()


@router.get("/switches/{dpid}", operation_id="getSwitch", response_model=schemas.Switch,
            responses=READ_ONE, summary="Get a switch")
def get_switch(svc: Service, dpid: DpidPath) -> dict[str, Any]:
    wanted = parse_dpid(dpid)
    return find_one(svc.list_switches(), lambda s: s.dpid == wanted,
                    "switch", "dpid", dpid).to_dict()


@router.delete("/switches/{dpid}", operation_id="deleteSwitch", response_model=schemas.Switch,
               responses=WRITE_ONE, summary="Forget a switch (no attachments may remain)")
def delete_switch(svc: Service, dpid: DpidPath) -> dict[str, Any]:
    return svc.remove_switch(dpid).to_dict()


@router.get("/switches/{dpid}/policy", operation_id="getSwitchPolicy",
            response_model=schemas.Policy, responses=_POLICY,
            summary="The flow entries the switch should hold")
def get_policy(
    svc: Service,
    dpid: DpidPath,
    at: Annotated[str | None, Query(
        description="Compile for this time (ISO 8601, with offset unless the API has a "
                    "time zone configured); default: now.",
        json_schema_extra={"format": "date-time"})] = None,
) -> dict[str, Any]:
    # ``options_from`` in the answer names the controller whose options were used.
    return svc.policy_preview(dpid, at).to_dict()
