"""The one validation, audit and transaction layer every writer goes through.

This is the service layer's public face: the CLI, the REST API (and any
other interface) import from ``op25b_app.service`` only, never from
``op25b_app.db`` or the compiler. What each name does lives in the module
named beside it.

Names are loaded when first used (PEP 562 ``__getattr__``): ``op25b --help``
needs a few constants, ``op25b subscriber show`` the database layer but not
the compiler or the importer, and importing all of it up front was most of
the command line's start-up time. The ``TYPE_CHECKING`` block below names
every export for type checkers and readers; ``_EXPORTS`` says where each
lives at run time, and a test checks that the two agree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from op25b_app.core import limits
    from op25b_app.core.constants import ENCAPSULATIONS, MODES
    from op25b_app.core.snapshot import ROLE_CORE, ROLE_EDGE, ROLES
    from op25b_app.service.attachments import AttachmentSpec
    from op25b_app.service.audit_read import AuditEntryView
    from op25b_app.service.csv_records import COLUMNS as CSV_COLUMNS
    from op25b_app.service.csv_records import (
        read_binary,
        read_file,
        read_records,
        to_spreadsheet,
        write_records,
    )
    from op25b_app.db.defaults import DEFAULT_DB_URL
    from op25b_app.service.customer import LineLookup, LineVerdict
    from op25b_app.service.database import (
        OpenMode,
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
        DatabaseBusy,
        DatabaseUnavailable,
        NoDatabase,
        NotFound,
        SchemaNotCurrent,
        ServiceError,
        StoredDataError,
        ValidationError,
        clip,
    )
    from op25b_app.service.import_records import (
        ImportProblem,
        ImportProgress,
        ImportRejected,
        ImportResult,
        SubscriberRecord,
    )
    from op25b_app.service.inputs import (
        in_time_range,
        parse_attach_point,
        parse_dpid,
        parse_int,
        parse_lock_timeout,
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
    from op25b_app.service.session_events import (
        ACCOUNTING_OFF,
        ACCOUNTING_ON,
        INTERIM,
        START,
        STOP,
        UNKNOWN_ACCOUNT,
        AccountingEvent,
        ExpiryPolicy,
        Place,
    )
    from op25b_app.service.session_views import SessionView
    from op25b_app.service.texts import check_characters, check_utf8
    from op25b_app.service.views import (
        AttachmentView,
        ConnectionTypeView,
        MtaView,
        SubscriberView,
        SwitchView,
        in_zone,
        to_jsonable,
    )

_CORE = "op25b_app.core"
_SERVICE = "op25b_app.service"
#: export name -> (module, name there; None: the module itself): where each is loaded from.
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "limits": (f"{_CORE}.limits", None),
    "ENCAPSULATIONS": (f"{_CORE}.constants", "ENCAPSULATIONS"),
    "MODES": (f"{_CORE}.constants", "MODES"),
    **{name: (f"{_CORE}.snapshot", name) for name in ("ROLE_CORE", "ROLE_EDGE", "ROLES")},
    "AttachmentSpec": (f"{_SERVICE}.attachments", "AttachmentSpec"),
    "AuditEntryView": (f"{_SERVICE}.audit_read", "AuditEntryView"),
    "CSV_COLUMNS": (f"{_SERVICE}.csv_records", "COLUMNS"),
    **{name: (f"{_SERVICE}.csv_records", name) for name in (
        "read_binary", "read_file", "read_records", "to_spreadsheet", "write_records")},
    "DEFAULT_DB_URL": ("op25b_app.db.defaults", "DEFAULT_DB_URL"),
    **{name: (f"{_SERVICE}.database", name) for name in (
        "OpenMode", "check_schema", "open_database", "safe_url",
        "schema_status", "upgrade_schema")},
    **{name: (f"{_SERVICE}.errors", name) for name in (
        "Conflict", "DatabaseBusy", "DatabaseUnavailable", "NoDatabase", "NotFound",
        "SchemaNotCurrent", "ServiceError", "StoredDataError", "ValidationError", "clip")},
    **{name: (f"{_SERVICE}.import_records", name) for name in (
        "ImportProblem", "ImportProgress", "ImportRejected", "ImportResult",
        "SubscriberRecord")},
    **{name: (f"{_SERVICE}.inputs", name) for name in (
        "in_time_range", "parse_attach_point", "parse_dpid", "parse_int", "parse_lock_timeout",
        "parse_port", "parse_prefix", "parse_since", "parse_span", "parse_time", "parse_vlan",
        "parse_zone", "split_carries")},
    **{name: (f"{_SERVICE}.customer", name) for name in ("LineLookup", "LineVerdict")},
    "PolicyService": (f"{_SERVICE}.policy_service", "PolicyService"),
    "PolicyPreview": (f"{_SERVICE}.queries", "PolicyPreview"),
    "UNCHANGED": (f"{_SERVICE}.subscribers", "UNCHANGED"),
    # Operations: op25b doctor, the blocked ranges for other operators.
    **{name: (f"{_SERVICE}.doctor", name) for name in (
        "DoctorReport", "DoctorSettings", "run_doctor")},
    "Check": (f"{_SERVICE}.doctor_checks", "Check"),
    "RANGE_FORMATS": (f"{_SERVICE}.ranges", "FORMATS"),
    **{name: (f"{_SERVICE}.ranges", name) for name in ("BlockedRanges", "render_ranges")},
    **{name: (f"{_SERVICE}.session_events", name) for name in (
        "ACCOUNTING_OFF", "ACCOUNTING_ON", "INTERIM", "START", "STOP", "UNKNOWN_ACCOUNT",
        "AccountingEvent", "ExpiryPolicy", "Place")},
    "SessionView": (f"{_SERVICE}.session_views", "SessionView"),
    **{name: (f"{_SERVICE}.texts", name) for name in ("check_characters", "check_utf8")},
    **{name: (f"{_SERVICE}.views", name) for name in (
        "AttachmentView", "ConnectionTypeView", "MtaView", "SubscriberView", "SwitchView",
        "in_zone", "to_jsonable")},
}

#: The public names (a literal list for linters; a test checks it matches ``_EXPORTS``).
__all__ = [
    "AttachmentSpec", "AttachmentView", "AuditEntryView", "CSV_COLUMNS", "Conflict",
    "ConnectionTypeView", "DEFAULT_DB_URL", "DatabaseBusy", "DatabaseUnavailable",
    "ENCAPSULATIONS", "ImportProblem", "ImportProgress", "ImportRejected", "ImportResult",
    "LineLookup", "LineVerdict", "MODES", "MtaView", "NoDatabase", "NotFound", "OpenMode",
    "PolicyPreview", "PolicyService",
    "ROLES", "ROLE_CORE", "ROLE_EDGE", "SchemaNotCurrent", "ServiceError", "StoredDataError",
    "SubscriberRecord", "SubscriberView", "SwitchView", "UNCHANGED", "ValidationError",
    "check_characters", "check_schema", "check_utf8", "clip", "in_time_range", "in_zone",
    "limits", "open_database", "parse_attach_point", "parse_dpid", "parse_int",
    "parse_lock_timeout", "parse_port", "parse_prefix", "parse_since", "parse_span", "parse_time",
    "parse_vlan", "parse_zone", "read_binary", "read_file", "read_records", "safe_url",
    "schema_status", "split_carries", "to_jsonable", "to_spreadsheet", "upgrade_schema",
    "write_records",
    "ACCOUNTING_OFF", "ACCOUNTING_ON", "INTERIM", "START", "STOP", "UNKNOWN_ACCOUNT",
    "AccountingEvent", "ExpiryPolicy", "Place", "SessionView",
    "RANGE_FORMATS", "BlockedRanges", "Check", "DoctorReport", "DoctorSettings",
    "render_ranges", "run_doctor",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (see the module docstring)."""
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
