"""Why a policy cannot be compiled: the caller keeps the switch's last good policy."""

from __future__ import annotations

from typing import Any


class PolicyError(Exception):
    """The snapshot or options cannot be compiled; keep the last good policy."""


class PolicyConflict(PolicyError):
    """Two attachments describe the same traffic with different owners or verdicts."""


class PolicyTooLarge(PolicyError):
    """The compiled policy would not fit the switch's configured entry cap."""

    def __init__(self, dpid: int, count: int, cap: int) -> None:
        super().__init__(
            f"dpid {dpid:#x}: policy needs {count} weighted flow entries, cap is {cap}"
        )
        self.dpid = dpid
        self.count = count
        self.cap = cap


class PolicyOptionError(PolicyError):
    """PolicyOptions that cannot produce a valid table."""


_NO_VALUE: Any = object()


class FlowSpecError(ValueError):
    """A flow entry a switch would refuse; names the offending field and value.

    ``FlowSpecError(field, value, reason)`` is the normal form. A single
    free-form message (``FlowSpecError("...")``) is accepted too, for callers
    that refuse an entry read back from a switch for a reason no one field
    explains; then ``field`` and ``value`` are None and ``reason`` is the message.
    """

    def __init__(self, field: str, value: object = _NO_VALUE, reason: str = "") -> None:
        if value is _NO_VALUE:
            super().__init__(field)
            self.field: str | None = None
            self.value: object = None
            self.reason = field
            return
        super().__init__(f"{field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason
