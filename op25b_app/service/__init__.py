"""The one validation, audit and transaction layer every writer goes through.

This is the service layer's public face: the CLI, the REST API (and any
other interface) import from ``op25b_app.service`` only, never from
``op25b_app.db`` or the compiler. What each name does lives in the module
named beside it.
"""

from op25b_app.core import limits
from op25b_app.core.constants import ENCAPSULATIONS, MODES
from op25b_app.core.snapshot import ROLE_CORE, ROLE_EDGE, ROLES
from op25b_app.service.attachments import AttachmentSpec
from op25b_app.service.audit_read import AuditEntryView
from op25b_app.service.csv_records import COLUMNS as CSV_COLUMNS
from op25b_app.service.csv_records import read_file, read_records, write_records
from op25b_app.service.database import (
    DEFAULT_DB_URL,
    check_schema,
    open_database,
    safe_url,
    schema_status,
    upgrade_schema,
)
from op25b_app.service.doctor import DoctorReport, DoctorSettings, run_doctor
from op25b_app.service.doctor_checks import Check
from op25b_app.service.errors import (
    Conflict,
    DatabaseUnavailable,
    NotFound,
    SchemaNotCurrent,
    ServiceError,
    StoredDataError,
    ValidationError,
)
from op25b_app.service.import_records import (
    ImportProblem,
    ImportProgress,
    ImportRejected,
    ImportResult,
    SubscriberRecord,
)
from op25b_app.service.inputs import (
    parse_attach_point,
    parse_dpid,
    parse_port,
    parse_prefix,
    parse_since,
    parse_span,
    parse_time,
    parse_vlan,
    parse_zone,
    split_carries,
)
from op25b_app.service.policy_service import PolicyService
from op25b_app.service.queries import PolicyPreview
from op25b_app.service.ranges import FORMATS as RANGE_FORMATS
from op25b_app.service.ranges import BlockedRanges, render_ranges
from op25b_app.service.subscribers import UNCHANGED
from op25b_app.service.views import (
    AttachmentView,
    ConnectionTypeView,
    MtaView,
    SubscriberView,
    SwitchView,
    to_jsonable,
)

__all__ = [
    "CSV_COLUMNS", "DEFAULT_DB_URL", "ENCAPSULATIONS", "MODES", "ROLES", "ROLE_CORE",
    "ROLE_EDGE", "UNCHANGED", "AttachmentSpec", "AttachmentView", "AuditEntryView", "Conflict",
    "ConnectionTypeView",
    "DatabaseUnavailable", "ImportProblem", "ImportProgress", "ImportRejected", "ImportResult",
    "MtaView",
    "NotFound", "PolicyPreview", "PolicyService", "SchemaNotCurrent", "ServiceError",
    "StoredDataError", "SubscriberRecord", "SubscriberView", "SwitchView", "ValidationError",
    "check_schema", "limits", "open_database", "parse_attach_point", "parse_dpid", "parse_port",
    "parse_prefix", "parse_since", "parse_span", "parse_time", "parse_vlan", "parse_zone",
    "read_file", "read_records", "safe_url", "schema_status", "split_carries", "to_jsonable",
    "upgrade_schema", "write_records",
]
# Operations: op25b doctor, the blocked ranges for other operators.
__all__ += ["RANGE_FORMATS", "BlockedRanges", "Check", "DoctorReport", "DoctorSettings",
            "render_ranges", "run_doctor"]
