"""``/subscribers``: subscribers, their attachments and their opt-outs.

The one list that grows to an ISP's 100k rows, so it is filtered, counted and
paged in SQL (``PolicyService.page_subscribers``), not in Python. A PATCH is
one all-or-nothing ``update_subscriber`` call: the same validation and audit
path as the CLI's separate commands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from op25b_app.api import schemas
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
    link,
    page_body,
    with_links,
)
from op25b_app.service import (
    AttachmentSpec,
    SubscriberView,
    ValidationError,
    parse_dpid,
    parse_time,
)

router = APIRouter(tags=["subscribers"])


def _account_parameter(
    account: Annotated[str, Path(description="Subscriber account; a '/' in it is sent "
                                 "percent-encoded as %2F.", pattern=schemas.NO_NUL_PATTERN)],
) -> str:
    """The ``{account}`` path segment as the client meant it (see ``request_line``)."""
    return path_value(account)


#: A route parameter of this type receives the ``{account}`` path segment, decoded.
AccountPath = Annotated[str, Depends(_account_parameter)]

_BY_ACCOUNT = {"account": "$response.body#/account"}
_CREATED = with_links(
    CREATE, 201, "Created.", GetSubscriber=link("getSubscriber", **_BY_ACCOUNT),
    PatchSubscriber=link("patchSubscriber", **_BY_ACCOUNT),
    AddAttachments=link("addAttachments", **_BY_ACCOUNT),
    DeleteSubscriber=link("deleteSubscriber", **_BY_ACCOUNT))
_ATTACHMENTS_ADDED = with_links(
    WRITE_ONE, 200, "The subscriber with its attachments.",
    RemoveAttachment=link("removeAttachment", attachment_id="$response.body#/attachments/0/id",
                          **_BY_ACCOUNT))


@router.get("/subscribers", operation_id="listSubscribers",
            response_model=schemas.SubscriberPage, responses=READ, summary="List subscribers")
def list_subscribers(
    svc: Service,
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
    rows, total = svc.page_subscribers(type_name=type, account_prefix=account_prefix,
                                       dpid=on_switch, limit=limit, offset=offset)
    return page_body(rows, total, limit, offset)


@router.post("/subscribers", operation_id="createSubscriber", status_code=201,
             response_model=schemas.Subscriber, responses=_CREATED,
             summary="Create a subscriber with its attachments")
def create_subscriber(svc: Service, body: schemas.SubscriberCreate) -> dict[str, Any]:
    view = svc.add_subscriber(body.account, body.name, body.type, _specs(body.attachments))
    return view.to_dict()


@router.get("/subscribers/{account}", operation_id="getSubscriber",
            response_model=schemas.Subscriber, responses=READ_ONE, summary="Get a subscriber")
def get_subscriber(svc: Service, account: AccountPath) -> dict[str, Any]:
    return svc.show_subscriber(account).to_dict()


@router.patch("/subscribers/{account}", operation_id="patchSubscriber",
              response_model=schemas.Subscriber, responses=WRITE_ONE,
              summary="Change name, connection type or opt-out (all or nothing)")
def patch_subscriber(svc: Service, account: AccountPath,
                     body: schemas.SubscriberPatch) -> dict[str, Any]:
    # A PATCH that changes nothing ({}, nulls, the stored values) writes
    # nothing: no audit entry, no policy revision for the controllers. The
    # read is its own transaction; a write landing between it and ours is
    # simply earlier than this PATCH, which then applies on top of it.
    kwargs = _update_kwargs(body)
    current = svc.show_subscriber(account)
    if not _changes(current, kwargs, svc.tz):
        return current.to_dict()
    return svc.update_subscriber(account, **kwargs).to_dict()


@router.delete("/subscribers/{account}", operation_id="deleteSubscriber",
               response_model=schemas.Subscriber, responses=WRITE_ONE,
               summary="Delete a subscriber and its attachments")
def delete_subscriber(svc: Service, account: AccountPath) -> dict[str, Any]:
    return svc.remove_subscriber(account).to_dict()


@router.post("/subscribers/{account}/attachments", operation_id="addAttachments",
             response_model=schemas.Subscriber, responses=_ATTACHMENTS_ADDED,
             summary="Add attachments")
def add_attachments(svc: Service, account: AccountPath,
                    body: schemas.AttachmentsAdd) -> dict[str, Any]:
    return svc.add_attachments(account, _specs(body.attachments)).to_dict()


@router.delete("/subscribers/{account}/attachments/{attachment_id}",
               operation_id="removeAttachment", response_model=schemas.Subscriber,
               responses=WRITE_ONE, summary="Remove one attachment")
def remove_attachment(svc: Service, account: AccountPath, attachment_id: int) -> dict[str, Any]:
    return svc.remove_attachment(account, attachment_id).to_dict()


def _specs(attachments: Sequence[schemas.AttachmentCreate]) -> list[AttachmentSpec]:
    """Request attachments as the service's specs (values are checked by the service)."""
    return [AttachmentSpec(dpid=a.dpid, port=a.port, vlan=a.vlan, prefixes=tuple(a.prefixes),
                           carries=tuple(a.carries))
            for a in attachments]


def _update_kwargs(body: schemas.SubscriberPatch) -> dict[str, Any]:
    """``update_subscriber``'s keyword arguments for the keys the PATCH body carried.

    A key left out of the body is left out here, so the service leaves that
    attribute unchanged; a null name or type means unchanged too, but a null
    ``exemption`` ends the opt-out now.
    """
    sent = body.model_fields_set
    kwargs: dict[str, Any] = {}
    if "name" in sent and body.name is not None:
        kwargs["name"] = body.name
    if "type" in sent and body.type is not None:
        kwargs["type_name"] = body.type
    if "exemption" in sent:
        exemption = body.exemption
        kwargs["exemption"] = None if exemption is None else (exemption.reason, exemption.until)
    return kwargs


def _changes(current: SubscriberView, kwargs: dict[str, Any], tz: dt.tzinfo | None) -> bool:
    """Whether ``update_subscriber(**kwargs)`` would change ``current``.

    Only a value that surely equals the stored one counts as no change;
    anything else - including input the service will refuse - goes to the
    service, which checks it and answers as it always does.
    """
    if kwargs.get("name", current.name) != current.name:
        return True
    if kwargs.get("type_name", current.type) != current.type:
        return True
    if "exemption" not in kwargs:
        return False
    exemption = kwargs["exemption"]
    if exemption is None:
        return current.exempt or current.exempt_reason is not None
    reason, until = exemption
    if not current.exempt or reason != current.exempt_reason:
        return True
    try:
        until_utc = None if until is None else parse_time(until, "until", tz)
    except ValidationError:
        return True
    # An opt-out that has ended is renewed (or refused as past) by the service.
    return until_utc != current.exempt_until or (
        until_utc is not None and until_utc <= dt.datetime.now(dt.UTC))
