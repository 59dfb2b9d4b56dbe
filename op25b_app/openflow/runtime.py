"""The few services the enforcer needs from its framework, and from the database.

The Ryu app hands in a concrete ``Runtime`` (green threads, native threads,
a clock) and the database source; tests hand in inline fakes. Keeping these
as protocols is what lets the orchestration run under Ryu, os-ken or a unit
test without change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from op25b_app.core.snapshot import PolicySnapshot


class Runtime(Protocol):
    """Green-thread spawn and sleep, events, native-thread work, the clock."""

    def spawn(self, func: Callable[..., Any], *args: Any) -> Any: ...
    def sleep(self, seconds: float) -> None: ...
    def Event(self) -> Any: ...  # noqa: N802 - mirrors hub.Event
    def run_blocking(self, func: Callable[..., Any], *args: Any) -> Any: ...
    def now(self) -> dt.datetime: ...


class SnapshotSource(Protocol):
    """Where policy snapshots come from (the database, or a test double)."""

    def revision(self) -> int: ...
    def load(self, dpids: frozenset[int] | None = None) -> PolicySnapshot: ...
