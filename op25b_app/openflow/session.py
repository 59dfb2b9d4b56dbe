"""What the controller knows about one connected switch between events."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.incremental import SwitchPolicy
from op25b_app.openflow.channel import Channel


@dataclasses.dataclass
class SwitchSession:
    """One connection's state: what is installed, what was applied, what failed.

    ``installed`` is None when unknown (the switch is read back before the
    next update); ``busy``/``dirty`` serialise and coalesce updates of this
    switch; ``failed_target`` remembers a (revision, policy hash) the switch
    refused so the same update is not retried in a loop.
    """

    dpid: int
    channel: Channel
    connected_at: dt.datetime
    connected_mono: float = dataclasses.field(default_factory=time.monotonic)
    #: What the switch holds (when in sync: the very set of ``policy.entries``).
    installed: set[FlowSpec] | frozenset[FlowSpec] | None = None
    #: The compiled policy the next changes are patched into (None: compile in full).
    policy: SwitchPolicy | None = None
    #: Patches of the snapshot waiting to be applied to ``policy``, oldest first.
    pending: list[Any] = dataclasses.field(default_factory=list)
    #: An opt-out ended: recompile the attachments whose time is up.
    expire_due: bool = False
    applied_revision: int | None = None
    next_change: dt.datetime | None = None
    last_error: str | None = None
    failed_target: tuple[int, int] | None = None
    busy: bool = False
    dirty: bool = False
    read_back: bool = True
    #: A read-back taken beside the worker, for it to diff (see Enforcer.read_back).
    read_result: frozenset[FlowSpec] | None = None
    counter_marks: dict[str, tuple[int, float]] | None = None
    meter_ok: bool = False
    #: The switch's fragment handling as read back ("nx-match" wanted); None = not read yet.
    fragment_mode: str | None = None
    #: Whether this switch takes ONF bundles (probed once per connection; None = not yet).
    bundles: bool | None = None

    @property
    def datapath(self) -> Any:
        return self.channel.datapath

    @property
    def label(self) -> str:
        return self.channel.label
