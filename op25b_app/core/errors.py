"""Why a policy cannot be compiled: the caller keeps the switch's last good policy."""

from __future__ import annotations


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
