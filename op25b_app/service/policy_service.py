"""``PolicyService``: the one validation and write layer for the policy tables.

The CLI, the REST API and the CSV import all go through it. Every public
method is one database transaction (``transactions``): it validates
everything first, holds the policy write lock from its first check to its
commit (so two writers cannot both pass an overlap check), and rolls back on
any error, so nothing is ever half-written. Results are frozen views
(``views``) whose ``to_dict()`` is ready for ``json.dumps``.

Every write also records who made it, when, and the before/after state in
the audit trail (``audit``) inside the same transaction, so the trail cannot
disagree with the data. ``actor`` names the writer: the OS user for the CLI,
``token:NAME`` for the REST API.

Times are stored in UTC. A time given without a UTC offset is read in the
service's configured zone (``tz``, e.g. Asia/Tokyo for an ISP in Japan) and is
an error when no zone is configured: whether '2026-12-31T00:00' means JST or
UTC decides when a customer's mail starts bouncing.

Errors (``errors``) say exactly which input was wrong, because an operator
adding ten thousand subscribers from a CSV file needs to find the bad cell.

Each concept is its own mixin in its own module; this class only puts them
together, so adding an operation never means reading the others.
"""

from __future__ import annotations

from op25b_app.service.audit_read import AuditLogOps
from op25b_app.service.bulk_import import BulkImportOps
from op25b_app.service.connection_types import ConnectionTypeOps
from op25b_app.service.enforcement import EnforcementOps
from op25b_app.service.mtas import MtaOps
from op25b_app.service.queries import QueryOps
from op25b_app.service.sessions import SessionOps
from op25b_app.service.ranges import RangeOps
from op25b_app.service.subscribers import SubscriberOps
from op25b_app.service.switches import SwitchOps


class PolicyService(
    SwitchOps,
    ConnectionTypeOps,
    SubscriberOps,
    MtaOps,
    EnforcementOps,
    BulkImportOps,
    AuditLogOps,
    QueryOps,
    SessionOps,
    RangeOps,
):
    """Validated reads and writes of the policy tables; one transaction per call.

    ``PolicyService(engine, clock=..., actor=..., tz=...)``: see
    ``transactions.ServiceBase``.
    """
