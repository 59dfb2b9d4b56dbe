"""The REST API's routes: thin glue between HTTP and ``PolicyService``.

Every write calls the service layer, which validates, takes the policy write
lock and commits in one transaction; the controller sees the change through
the revision trigger like any other write. Reads of status and compiled
policy go to the database too (``read_status``, ``load_snapshot`` +
``compile_policy``), never to a controller, so the API answers while a
controller restarts.

Route functions are plain ``def``: the service and SQLAlchemy block, and
FastAPI runs such functions in its thread pool instead of on the event loop.

Subscribers - the one list that grows to an ISP's 100k rows - are filtered,
counted and paged in SQL (``PolicyService.page_subscribers``). Switches,
connection types and MTAs are a handful to a few hundred rows and are paged
in Python over the service's lists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Path, Query, Request
from sqlalchemy.engine import Engine

from op25b_app import __version__
from op25b_app.api import schemas
from op25b_app.api.auth import TOKEN_SCOPE_KEY, TokenAuthMiddleware
from op25b_app.api.body_limit import BodySizeLimitMiddleware
from op25b_app.api.config import ApiConfig, TokenEntry
from op25b_app.api.errors import error_responses, install_error_handlers
from op25b_app.api.openapi import OPENAPI_PATH, build_openapi
from op25b_app.api.subscriber_update import update_kwargs
from op25b_app.db.models import utc_now
from op25b_app.db.snapshot_loader import load_snapshot
from op25b_app.db.status import read_status
from op25b_app.service.policy_service import (
    AttachmentSpec,
    NotFound,
    PolicyService,
    SubscriberView,
    parse_dpid,
    parse_time,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PAGE = 100
MAX_PAGE = 1000
#: Largest offset accepted: far beyond any ISP's subscriber count, and inside
#: the 64-bit integer SQL OFFSET takes (a bigger one was a 500 from the driver).
MAX_OFFSET = 1_000_000_000

# OpenAPI responses per kind of operation (documented so a client, and the
# contract test, know every status an operation can answer).
_READ = error_responses(400, 401, 413, 503)
_READ_ONE = error_responses(400, 401, 404, 413, 503)
_CREATE = error_responses(400, 401, 403, 409, 413, 503)
_WRITE_ONE = error_responses(400, 401, 403, 404, 409, 413, 503)
#: Compiling reads stored data the compiler may refuse (409); an unknown dpid is
#: not 404 - it compiles as an unregistered switch, exactly as the controller would.
_POLICY = error_responses(400, 401, 409, 413, 503)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
DpidPath = Annotated[str, Path(description="Datapath id, decimal or 0x-hex.")]
AccountPath = Annotated[str, Path(description="Subscriber account.",
                                  pattern=schemas.NO_NUL_PATTERN)]
NamePath = Annotated[str, Path(description="Name.", pattern=schemas.NO_NUL_PATTERN)]


def create_app(engine: Engine, config: ApiConfig, *,
               clock: Callable[[], dt.datetime] = utc_now,
               tz: dt.tzinfo | None = None) -> FastAPI:
    """The ASGI application for ``engine`` with ``config``'s tokens and limits.

    ``tz`` is the zone of times given without a UTC offset (op25b's
    ``--tz``/$OP25B_TZ); None refuses such times, as the CLI does.
    """
    app = FastAPI(
        title="op25b",
        version=__version__,
        description=(
            "Management API of op25b (ISP Outbound Port 25 Blocking). Writes go through "
            "the same service layer as the op25b CLI; the controllers apply them to the "
            "switches. Every request needs 'Authorization: Bearer <token>'."
        ),
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    # The middleware added last runs first: the token is checked before
    # anything reads the body, then the body is bounded before FastAPI parses it.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(TokenAuthMiddleware, tokens=config.tokens)
    _add_routes(app, engine, _ServiceSettings(engine, clock, tz))
    return app


class _ServiceSettings:
    """How each request's ``PolicyService`` is made: clock, time zone, acting token."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime],
                 tz: dt.tzinfo | None) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.cls = PolicyService

    def service_for(self, request: Request) -> PolicyService:
        """A service whose writes the audit trail attributes to the calling token."""
        token: TokenEntry = request.scope[TOKEN_SCOPE_KEY]
        return self.cls(self.engine, clock=self.clock, actor=f"token:{token.name}", tz=self.tz)

    def parse_time(self, value: str, field: str) -> dt.datetime:
        """``service.parse_time`` with the configured zone for times without an offset."""
        return parse_time(value, field, self.tz)


def _page(items: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    """A page cut from a whole (short) list."""
    return _page_body(items[offset:offset + limit], len(items), limit, offset)


def _page_body(items: Sequence[T], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The JSON of every list route: the page's items and where they sit in the whole."""
    return {"items": [_as_dict(i) for i in items], "total": total, "limit": limit,
            "offset": offset}


def _as_dict(item: Any) -> Any:
    return item.to_dict() if hasattr(item, "to_dict") else item


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: how a response feeds the parameters of a follow-up operation."""
    return {"operationId": operation_id, "parameters": parameters}


def _with_links(base: dict[int | str, dict[str, Any]], status: int, description: str,
                **links: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``base`` plus the success response ``status`` carrying ``links``.

    Links let a client (and the contract test's stateful phase) go from a
    created object to the operations on it without guessing identifiers.
    """
    return {**base, status: {"description": description, "links": links}}


_BY_DPID = {"dpid": "$response.body#/dpid"}
_BY_ACCOUNT = {"account": "$response.body#/account"}
_BY_NAME = {"name": "$response.body#/name"}
_SWITCH_CREATED = _with_links(
    _CREATE, 201, "Registered.", GetSwitch=_link("getSwitch", **_BY_DPID),
    GetSwitchPolicy=_link("getSwitchPolicy", **_BY_DPID),
    DeleteSwitch=_link("deleteSwitch", **_BY_DPID))
_TYPE_CREATED = _with_links(
    _CREATE, 201, "Defined.", GetConnectionType=_link("getConnectionType", **_BY_NAME))
_SUBSCRIBER_CREATED = _with_links(
    _CREATE, 201, "Created.", GetSubscriber=_link("getSubscriber", **_BY_ACCOUNT),
    PatchSubscriber=_link("patchSubscriber", **_BY_ACCOUNT),
    AddAttachments=_link("addAttachments", **_BY_ACCOUNT),
    DeleteSubscriber=_link("deleteSubscriber", **_BY_ACCOUNT))
_ATTACHMENTS_ADDED = _with_links(
    _WRITE_ONE, 200, "The subscriber with its attachments.",
    RemoveAttachment=_link("removeAttachment", attachment_id="$response.body#/attachments/0/id",
                           **_BY_ACCOUNT))
_MTA_CREATED = _with_links(
    _CREATE, 201, "Registered.", GetMta=_link("getMta", **_BY_NAME),
    DeleteMta=_link("deleteMta", **_BY_NAME))


def _add_routes(app: FastAPI, engine: Engine, settings: _ServiceSettings) -> None:
    def service(request: Request) -> PolicyService:
        return settings.service_for(request)

    # ------------------------------------------------------------------ switches

    @app.get("/switches", operation_id="listSwitches", response_model=schemas.SwitchPage,
             responses=_READ, tags=["switches"], summary="List switches")
    def list_switches(
        request: Request,
        limit: Limit = DEFAULT_PAGE,
        offset: Offset = 0,
        role: Annotated[schemas.RoleName | None, Query(description="Only this role.")] = None,
    ) -> dict[str, Any]:
        rows = [s for s in service(request).list_switches() if role is None or s.role == role]
        return _page(rows, limit, offset)

    @app.post("/switches", operation_id="createSwitch", status_code=201,
              response_model=schemas.Switch, responses=_SWITCH_CREATED, tags=["switches"],
              summary="Register a switch")
    def create_switch(request: Request, body: schemas.SwitchCreate) -> dict[str, Any]:
        view = service(request).add_switch(body.dpid, body.name, body.uplinks, body.role)
        return view.to_dict()

    @app.get("/switches/{dpid}", operation_id="getSwitch", response_model=schemas.Switch,
             responses=_READ_ONE, tags=["switches"], summary="Get a switch")
    def get_switch(request: Request, dpid: DpidPath) -> dict[str, Any]:
        wanted = parse_dpid(dpid)
        for switch in service(request).list_switches():
            if switch.dpid == wanted:
                return switch.to_dict()
        raise NotFound("switch", "dpid", dpid)

    @app.delete("/switches/{dpid}", operation_id="deleteSwitch", response_model=schemas.Switch,
                responses=_WRITE_ONE, tags=["switches"],
                summary="Forget a switch (no attachments may remain)")
    def delete_switch(request: Request, dpid: DpidPath) -> dict[str, Any]:
        return service(request).remove_switch(dpid).to_dict()

    @app.get("/switches/{dpid}/policy", operation_id="getSwitchPolicy",
             response_model=schemas.Policy, responses=_POLICY, tags=["switches"],
             summary="The flow entries the switch should hold")
    def get_policy(
        dpid: DpidPath,
        at: Annotated[str | None, Query(
            description="Compile for this time (ISO 8601, with offset unless the API has a "
                        "time zone configured); default: now.",
            json_schema_extra={"format": "date-time"})] = None,
    ) -> dict[str, Any]:
        # Imported here, as in the CLI: only this route needs the compiler.
        from op25b_app.core.compile import compile_policy

        value = parse_dpid(dpid)
        now = settings.parse_time(at, "at") if at is not None else settings.clock()
        snapshot = load_snapshot(engine, dpids=[value])
        specs, next_change = compile_policy(snapshot, value, now)
        ordered = sorted(specs, key=lambda s: (s.table, -s.priority, str(s)))
        return {
            "dpid": value, "dpid_hex": f"{value:016x}", "revision": snapshot.revision,
            "at": now, "next_change": next_change,
            "entries": [{"table": s.table, "priority": s.priority, "match": dict(s.match),
                         "actions": s.actions, "cookie": s.cookie, "text": str(s)}
                        for s in ordered],
        }

    # ------------------------------------------------------------------ connection types

    @app.get("/connection-types", operation_id="listConnectionTypes",
             response_model=schemas.ConnectionTypePage, responses=_READ,
             tags=["connection types"], summary="List connection types")
    def list_types(request: Request, limit: Limit = DEFAULT_PAGE,
                   offset: Offset = 0) -> dict[str, Any]:
        return _page(service(request).list_connection_types(), limit, offset)

    @app.post("/connection-types", operation_id="createConnectionType", status_code=201,
              response_model=schemas.ConnectionType, responses=_TYPE_CREATED,
              tags=["connection types"], summary="Define a connection type")
    def create_type(request: Request, body: schemas.ConnectionTypeCreate) -> dict[str, Any]:
        view = service(request).add_connection_type(body.name, body.blocked, body.description)
        return view.to_dict()

    @app.get("/connection-types/{name}", operation_id="getConnectionType",
             response_model=schemas.ConnectionType, responses=_READ_ONE,
             tags=["connection types"], summary="Get a connection type")
    def get_type(request: Request, name: NamePath) -> dict[str, Any]:
        for ctype in service(request).list_connection_types():
            if ctype.name == name:
                return ctype.to_dict()
        raise NotFound("connection type", "name", name)

    # ------------------------------------------------------------------ subscribers

    @app.get("/subscribers", operation_id="listSubscribers",
             response_model=schemas.SubscriberPage, responses=_READ, tags=["subscribers"],
             summary="List subscribers")
    def list_subscribers(
        request: Request,
        limit: Limit = DEFAULT_PAGE,
        offset: Offset = 0,
        type: Annotated[str | None, Query(description="Only this connection type.",
                                          pattern=schemas.NO_NUL_PATTERN)] = None,
        account_prefix: Annotated[str | None, Query(
            description="Only accounts starting with this.",
            pattern=schemas.NO_NUL_PATTERN)] = None,
        dpid: Annotated[str | None, Query(
            description="Only subscribers attached to this switch (decimal or 0x-hex).")] = None,
    ) -> dict[str, Any]:
        on_switch = None if dpid is None else parse_dpid(dpid)
        rows, total = service(request).page_subscribers(
            type_name=type, account_prefix=account_prefix, dpid=on_switch,
            limit=limit, offset=offset)
        return _page_body(rows, total, limit, offset)

    @app.post("/subscribers", operation_id="createSubscriber", status_code=201,
              response_model=schemas.Subscriber, responses=_SUBSCRIBER_CREATED,
              tags=["subscribers"], summary="Create a subscriber with its attachments")
    def create_subscriber(request: Request, body: schemas.SubscriberCreate) -> dict[str, Any]:
        view = service(request).add_subscriber(body.account, body.name, body.type,
                                               _specs(body.attachments))
        return view.to_dict()

    @app.get("/subscribers/{account}", operation_id="getSubscriber",
             response_model=schemas.Subscriber, responses=_READ_ONE, tags=["subscribers"],
             summary="Get a subscriber")
    def get_subscriber(request: Request, account: AccountPath) -> dict[str, Any]:
        return service(request).show_subscriber(account).to_dict()

    @app.patch("/subscribers/{account}", operation_id="patchSubscriber",
               response_model=schemas.Subscriber, responses=_WRITE_ONE, tags=["subscribers"],
               summary="Change name, connection type or opt-out (all or nothing)")
    def patch_subscriber(request: Request, account: AccountPath,
                         body: schemas.SubscriberPatch) -> dict[str, Any]:
        exemption = None if body.exemption is None else (body.exemption.reason,
                                                         body.exemption.until)
        kwargs = update_kwargs(body.model_fields_set, body.name, body.type, exemption)
        svc: Any = service(request)
        view: SubscriberView = svc.update_subscriber(account, **kwargs)
        return view.to_dict()

    @app.delete("/subscribers/{account}", operation_id="deleteSubscriber",
                response_model=schemas.Subscriber, responses=_WRITE_ONE, tags=["subscribers"],
                summary="Delete a subscriber and its attachments")
    def delete_subscriber(request: Request, account: AccountPath) -> dict[str, Any]:
        return service(request).remove_subscriber(account).to_dict()

    @app.post("/subscribers/{account}/attachments", operation_id="addAttachments",
              response_model=schemas.Subscriber, responses=_ATTACHMENTS_ADDED,
              tags=["subscribers"], summary="Add attachments")
    def add_attachments(request: Request, account: AccountPath,
                        body: schemas.AttachmentsAdd) -> dict[str, Any]:
        view = service(request).add_attachments(account,
                                                _specs(body.attachments))
        return view.to_dict()

    @app.delete("/subscribers/{account}/attachments/{attachment_id}",
                operation_id="removeAttachment", response_model=schemas.Subscriber,
                responses=_WRITE_ONE, tags=["subscribers"], summary="Remove one attachment")
    def remove_attachment(request: Request, account: AccountPath,
                          attachment_id: int) -> dict[str, Any]:
        view = service(request).remove_attachment(account, attachment_id)
        return view.to_dict()

    # ------------------------------------------------------------------ MTAs

    @app.get("/mtas", operation_id="listMtas", response_model=schemas.MtaPage,
             responses=_READ, tags=["mtas"], summary="List the ISP's MTAs")
    def list_mtas(request: Request, limit: Limit = DEFAULT_PAGE,
                  offset: Offset = 0) -> dict[str, Any]:
        return _page(service(request).list_mtas(), limit, offset)

    @app.post("/mtas", operation_id="createMta", status_code=201, response_model=schemas.Mta,
              responses=_MTA_CREATED, tags=["mtas"], summary="Register an MTA")
    def create_mta(request: Request, body: schemas.MtaCreate) -> dict[str, Any]:
        return service(request).add_mta(body.name, body.prefix).to_dict()

    @app.get("/mtas/{name}", operation_id="getMta", response_model=schemas.Mta,
             responses=_READ_ONE, tags=["mtas"], summary="Get an MTA")
    def get_mta(request: Request, name: NamePath) -> dict[str, Any]:
        for mta in service(request).list_mtas():
            if mta.name == name:
                return mta.to_dict()
        raise NotFound("MTA", "name", name)

    @app.delete("/mtas/{name}", operation_id="deleteMta", response_model=schemas.Mta,
                responses=_WRITE_ONE, tags=["mtas"], summary="Forget an MTA")
    def delete_mta(request: Request, name: NamePath) -> dict[str, Any]:
        return service(request).remove_mta(name).to_dict()

    # ------------------------------------------------------------------ status

    @app.get("/status", operation_id="getStatus", response_model=schemas.Status,
             responses=_READ, tags=["status"],
             summary="Controllers and switches as reported in the database (op25b status)")
    def get_status() -> dict[str, Any]:
        status: dict[str, Any] = read_status(engine)
        return status


def _specs(attachments: Sequence[schemas.AttachmentCreate]) -> list[AttachmentSpec]:
    return [AttachmentSpec(dpid=a.dpid, port=a.port, vlan=a.vlan, prefixes=tuple(a.prefixes))
            for a in attachments]
