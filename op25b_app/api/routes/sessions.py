"""``/sessions``: dynamic subscribers - read by the abuse desk, fed by DHCP hooks.

The RADIUS server writes the same table directly through the service; these
routes let any DHCP server's hook (ISC Kea run-script, dhcpd ``on commit``)
feed it too (``scripts/dhcp-session-hook``), and let anyone with a read
token page it in SQL by account, address and NAS.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from op25b_app.api import session_schemas as schemas
from op25b_app.api.routes.common import (
    CREATE,
    DEFAULT_PAGE,
    READ,
    READ_ONE,
    WRITE_ONE,
    Limit,
    Offset,
    Service,
    link,
    page_body,
    with_links,
)

router = APIRouter(tags=["sessions"])

#: Session ids are INTEGER rows (below 2**31 on PostgreSQL; see core.session_ids).
SessionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Session id.")]
_BY_ID = {"session_id": "$response.body#/id"}
_CREATED = with_links(CREATE, 201, "Created or refreshed.",
                      GetSession=link("getSession", **_BY_ID),
                      EndSession=link("endSession", **_BY_ID))


@router.get("/sessions", operation_id="listSessions", response_model=schemas.SessionPage,
            responses=READ, summary="List sessions (newest first), filtered and paged in SQL")
def list_sessions(
    svc: Service, limit: Limit = DEFAULT_PAGE, offset: Offset = 0,
    account: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    address: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$",
                                         description="An address or prefix held.")] = None,
    nas: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    live: Annotated[bool | None, Query(description="Only live (true) or ended (false).")]
    = None,
) -> dict[str, Any]:
    views, total = svc.page_sessions(account=account, address=address, nas=nas, live=live,
                                     limit=limit, offset=offset)
    return page_body(views, total, limit, offset)


@router.post("/sessions", operation_id="createSession", status_code=201,
             response_model=schemas.Session, responses=_CREATED,
             summary="Create or refresh a session (a DHCP lease)")
def create_session(svc: Service, body: schemas.SessionCreate) -> dict[str, Any]:
    lifetime = None if body.lifetime_seconds is None else \
        dt.timedelta(seconds=body.lifetime_seconds)
    return svc.open_session(nas=body.nas, session_id=body.session_id, account=body.account,
                            dpid=body.dpid, port=body.port, vlan=body.vlan,
                            addresses=body.addresses, lifetime=lifetime,
                            source="dhcp").to_dict()


@router.get("/sessions/{session_id}", operation_id="getSession", response_model=schemas.Session,
            responses=READ_ONE, summary="Get a session")
def get_session(svc: Service, session_id: SessionId) -> dict[str, Any]:
    return svc.show_session(session_id).to_dict()


@router.delete("/sessions/{session_id}", operation_id="endSession",
               response_model=schemas.Session, responses=WRITE_ONE,
               summary="End a session (a DHCP release or expiry); ending twice is harmless")
def end_session(svc: Service, session_id: SessionId) -> dict[str, Any]:
    return svc.end_session(session_id, "released").to_dict()
