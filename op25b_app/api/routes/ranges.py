"""``/ranges``: the address ranges op25b blocks, for other operators (``op25b export ranges``).

Served as text rather than JSON because its consumers are files: a plain
prefix list, CSV, or an rbldnsd zone a DNS server loads as it is. Any token
may read it (it is what other operators are meant to see); what is listed
is ``op25b_app.service.ranges``' rule, the same as the CLI's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from op25b_app.api.routes.common import READ, Service
from op25b_app.service import render_ranges

router = APIRouter(tags=["ranges"])

#: The ``format`` query parameter: the service's formats, as an enum in the document.
RangeFormat = Literal["text", "csv", "rbldnsd"]
_MEDIA = {"text": "text/plain", "csv": "text/csv", "rbldnsd": "text/plain"}
_TEXT = {"schema": {"type": "string"}}
#: The read errors, documented as the JSON they are: FastAPI would give an
#: error ``model`` this route's text/plain media type.
_ERRORS = {code: {**{k: v for k, v in entry.items() if k != "model"},
                  "content": {"application/json": {
                      "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
           for code, entry in READ.items()}


@router.get(
    "/ranges", operation_id="getRanges", response_class=PlainTextResponse,
    responses={**_ERRORS, 200: {
        "description": "One prefix a line (text), 'prefix,family' rows (csv), or an rbldnsd "
                       "combined dataset (rbldnsd). Response header X-Op25b-Revision: the "
                       "policy revision the list is true for.",
        "content": {"text/plain": _TEXT, "text/csv": _TEXT},
        "headers": {"X-Op25b-Revision": {"description": "Policy revision of the list.",
                                         "schema": {"type": "integer"}}}}},
    summary="The prefixes blocked by OP25B now (IPv4 and IPv6, merged)")
def get_ranges(
    svc: Service,
    format: Annotated[RangeFormat, Query(
        description="text: one prefix a line; csv: prefix,family; rbldnsd: an ip4set + "
                    "ip6trie combined dataset answering 127.0.0.10.")] = "text",
) -> PlainTextResponse:
    # Exempt, dial-up and MTA addresses are left out; attachments without a
    # prefix contribute nothing.
    ranges = svc.blocked_ranges()
    return PlainTextResponse(render_ranges(ranges, format), media_type=_MEDIA[format],
                             headers={"X-Op25b-Revision": str(ranges.revision)})
