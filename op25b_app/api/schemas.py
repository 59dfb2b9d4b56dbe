"""Request and response bodies of the REST API (pydantic v2).

The OpenAPI document is generated from these models, so they are the
contract. They check only *shape* (JSON types, required keys, no unknown
keys); every rule about *values* - dpid and port ranges, prefixes, names,
times with offsets, duplicates, overlaps - is the service layer's, so the API
and the CLI refuse exactly the same inputs with the same field and reason.

Request models are strict (``"5"`` is not a port, ``1`` is not ``true``):
JSON has real numbers and booleans, and silently coercing a string would
accept inputs the schema says are invalid. A dpid may be a number or a
string because operators write dpids in hex (``"0x1"``), as the CLI accepts.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt
from pydantic import StrictStr, WithJsonSchema

from op25b_app.api.echo import MAX_ECHO_CHARS, MAX_ERROR_CHARS
from op25b_app.api.switch_table import SwitchPatch, TableSettings  # noqa: F401  (re-exported)
from op25b_app.service import ENCAPSULATIONS, limits

# Ranges are *documented* here (so clients and the contract test's generator
# know them) but enforced by the service, whose errors name field and value
# exactly as the CLI's do. No "maximum" for dpids: FastAPI's OpenAPI model
# holds bounds as floats and 2**64-1 is not one; the description states it.
_DPID_RANGE = {"minimum": 0}
_PORT_RANGE = {"minimum": limits.MIN_PORT, "maximum": limits.MAX_PORT}
_VLAN_RANGE = {"minimum": limits.MIN_VLAN, "maximum": limits.MAX_VLAN}

#: No NUL characters in any text: PostgreSQL cannot store or even compare
#: such strings, and no op25b name, account or prefix may contain one.
NO_NUL_PATTERN = r"^[^\x00]*$"
Text = Annotated[StrictStr, Field(pattern=NO_NUL_PATTERN)]


def _dpid_json_type(value: object) -> int | str:
    # One validator rather than a pydantic union, whose errors would name
    # the union member ("dpid.int") instead of the field.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("a datapath id is a number or a decimal / 0x-hex string")
    return value


_DPID_DESCRIPTION = f"Datapath id 0..{limits.MAX_DPID}: a number, or a decimal or 0x-hex string."

#: A datapath id as JSON: a number, or a decimal / 0x-hex string (checked by the service).
DpidIn = Annotated[
    int | str,
    PlainValidator(_dpid_json_type),
    WithJsonSchema({"anyOf": [{"type": "integer", **_DPID_RANGE}, {"type": "string"}]}),
]
Port = Annotated[StrictInt, WithJsonSchema({"type": "integer", **_PORT_RANGE})]
Vlan = Annotated[StrictInt, WithJsonSchema({"type": "integer", **_VLAN_RANGE})]
RoleName = Literal["edge", "core"]
#: An encapsulation an attachment may carry. The names are documented as an
#: enum but checked by the service, whose error names field and value exactly
#: as the CLI's and the CSV import's do.
Encapsulation = Annotated[
    StrictStr, WithJsonSchema({"type": "string", "enum": sorted(ENCAPSULATIONS)})
]


class _Request(BaseModel):
    """Base of request bodies: strict types, unknown keys refused (typos are errors)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class _Response(BaseModel):
    """Base of response bodies.

    A key the service's view has but the model lacks is dropped, not a 500:
    the document stays the contract, and tests/api compare the models with
    the service's views so a new field is noticed and documented.
    """

    model_config = ConfigDict(extra="ignore")


# --------------------------------------------------------------------------- errors


class ErrorBody(_Response):
    """Every error response: what went wrong and, for bad input, which field and value."""

    error: str = Field(description=f"One line for a human (at most {MAX_ERROR_CHARS} "
                       "characters; an embedded value is cut like 'value').")
    field: str | None = Field(
        default=None, description="The offending input field (dotted path into the body)."
    )
    value: Any = Field(default=None, description="The offending value as received; text "
                       f"longer than {MAX_ECHO_CHARS} characters (or a structure whose JSON "
                       "is) is cut and ends with '...'.")


# --------------------------------------------------------------------------- switches


class SwitchCreate(_Request, TableSettings):
    """Register an OpenFlow switch."""

    dpid: DpidIn = Field(description=_DPID_DESCRIPTION)
    name: Text
    uplinks: list[Port] = Field(
        default_factory=list,
        description="Core-facing ports; traffic entering them is never blocked.",
    )
    role: RoleName = Field(
        default="edge", description="edge: subscribers attach here; core: pass everything."
    )


class Switch(_Response):
    """A registered switch."""

    id: int
    dpid: int
    dpid_hex: str = Field(
        description="The dpid as 16 hex digits (some JSON clients lose precision above 2**53)."
    )
    name: str
    role: str
    uplinks: list[int]
    created_at: dt.datetime
    capacity: int | None = Field(default=None, description="Flow entries it holds; null: no limit.")
    compact: bool = Field(default=False, description="Blocked subscribers get no entry.")


class SwitchPage(_Response):
    """One page of switches, by dpid."""

    items: list[Switch]
    total: int = Field(description="Matching switches before paging.")
    limit: int
    offset: int


# --------------------------------------------------------------------------- connection types


class ConnectionTypeCreate(_Request):
    """Define a connection type (broadband, dial-up, ...)."""

    name: Text
    blocked: StrictBool = Field(description="Whether OP25B applies to lines of this type.")
    description: Text = ""


class ConnectionType(_Response):
    """A connection type."""

    id: int
    name: str
    blocked: bool
    description: str


class ConnectionTypePage(_Response):
    """One page of connection types, by name."""

    items: list[ConnectionType]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- subscribers


class AttachmentCreate(_Request):
    """Where a subscriber's traffic enters: one row per prefix (none: any source)."""

    dpid: DpidIn = Field(description=_DPID_DESCRIPTION)
    port: Port
    vlan: Vlan | None = Field(default=None, description="VLAN id; null matches any.")
    prefixes: list[Text] = Field(
        default_factory=list, description="Source prefixes (IPv4 or IPv6); empty: any source."
    )
    carries: list[Encapsulation] = Field(
        default_factory=list,
        description="Encapsulations this port (and VLAN) carries on purpose: stacked VLAN "
        "tags (qinq), MPLS (mpls), PPPoE sessions (pppoe). From customer ports they are "
        "dropped, because the switch cannot see the IP inside; listed here they pass on "
        "this port/VLAN. Duplicates collapse; empty: none.",
    )


class AttachmentsAdd(_Request):
    """Attach an existing subscriber at more places."""

    attachments: list[AttachmentCreate]


class ExemptionSet(_Request):
    """An opt-out from blocking (e.g. the customer runs its own MTA)."""

    reason: Text
    until: Text | None = Field(
        default=None,
        description="ISO 8601 time with an explicit offset (e.g. 2026-12-31T00:00+09:00); "
        "null: no expiry.",
        json_schema_extra={"format": "date-time"},
    )


class SubscriberCreate(_Request):
    """Create a subscriber with its attachments (all or nothing)."""

    account: Text
    name: Text = ""
    type: Text = Field(description="Connection type name, e.g. broadband.")
    attachments: list[AttachmentCreate] = Field(default_factory=list)


class SubscriberPatch(_Request):
    """Change a subscriber; keys left out stay as they are (all changes in one transaction)."""

    name: Text | None = Field(default=None, description="New name; absent or null: unchanged.")
    type: Text | None = Field(
        default=None, description="New connection type; absent or null: unchanged."
    )
    exemption: ExemptionSet | None = Field(
        default=None,
        description="An object sets the opt-out; null ends it now; absent: unchanged.",
    )


class Attachment(_Response):
    """One attachment of a subscriber."""

    id: int
    dpid: int
    switch: str
    port: int
    vlan: int | None
    prefix: str | None
    match_key: str
    carries: list[str] = Field(
        description="Encapsulations this port/VLAN carries on purpose (passed, not dropped), "
        "sorted; empty: none."
    )


class Subscriber(_Response):
    """A subscriber, its attachments and its opt-out."""

    id: int
    account: str
    name: str
    type: str
    type_blocked: bool
    exempt: bool
    exempt_reason: str | None
    exempt_until: dt.datetime | None
    blocked_now: bool = Field(description="Whether TCP/25 is blocked right now.")
    created_at: dt.datetime
    updated_at: dt.datetime
    attachments: list[Attachment]


class SubscriberPage(_Response):
    """One page of subscribers, by account."""

    items: list[Subscriber]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- MTAs


class MtaCreate(_Request):
    """Register one of the ISP's mail relays with one prefix (the CLI takes several)."""

    name: Text
    prefix: Text
    #: A prefix wider than /24 (IPv4) or /48 (IPv6) is refused unless this is true (audited).
    allow_wide: StrictBool = False


class Mta(_Response):
    """An MTA: TCP/25 to it passes for everyone."""

    id: int
    name: str
    prefix: str


class MtaPage(_Response):
    """One page of MTAs, by name."""

    items: list[Mta]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- policy and status


class FlowEntry(_Response):
    """One flow entry the switch should hold (as ``op25b policy show --json``)."""

    table: int
    priority: int
    match: dict[str, int | str]
    actions: str
    cookie: int
    text: str = Field(description="The entry as ovs-ofctl dump-flows prints it.")


class Policy(_Response):
    """The compiled policy of one switch at one time."""

    dpid: int
    dpid_hex: str
    revision: int = Field(description="The database policy revision it was compiled from.")
    at: dt.datetime
    next_change: dt.datetime | None = Field(
        description="When the policy changes by itself (an opt-out expiring); null: never."
    )
    options_from: str | None = Field(
        description="The controller (controller_id, as in /status) whose options - table, "
        "priorities, pass action - the entries are rendered with: the one serving the "
        "switch. null: no controller has reported the switch with its options, so op25b's "
        "defaults are used."
    )
    entries: list[FlowEntry]
    quarantined: list[QuarantinedRow] = Field(
        description="Stored rows left out of this policy because they failed validation "
        "(written behind op25b's back); what each described fails closed."
    )


class QuarantinedRow(_Response):
    """A stored row that failed validation: left out, its part failing closed."""

    table: str
    row: str
    field: str
    value: str = Field(description="The stored value, cut to 120 characters.")
    reason: str


class Quarantine(_Response):
    """The rows a controller left out of the revision it loaded."""

    revision: int
    total: int = Field(description="How many rows were left out (the first are listed).")
    rows: list[QuarantinedRow]


class ControllerState(_Response):
    """A controller as it reports itself in the database."""

    controller_id: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    revision_loaded: int | None
    bad_revision: int | None
    bad_reason: str | None
    quarantine: Quarantine | None = Field(
        description="Rows this controller quarantined; null: none."
    )


class SwitchState(_Response):
    """A switch as a controller reports it."""

    dpid: int
    name: str | None
    controller_id: str
    connected: bool
    connected_since: dt.datetime | None
    revision_applied: int | None
    in_sync: bool
    entries: int
    last_error: str | None
    fragment_mode: str | None = Field(
        description="The switch's fragment handling as read back: nx-match (wanted: a "
        "fragmented SYN meets its subscriber's own entry), or normal, drop, reassemble, "
        "unknown (every TCP first fragment from customer ports is dropped, exempt "
        "subscribers' too); null: not read yet."
    )
    updated_at: dt.datetime


class Status(_Response):
    """What ``op25b status`` shows, read from the database."""

    policy_revision: int
    controllers: list[ControllerState]
    switches: list[SwitchState]
