"""Deployment options that change how the policy is rendered, not what it means.

One frozen ``PolicyOptions`` value travels from the controller's command line
to the compiler; the controller also writes it into the database with its
status, so that a policy preview (``op25b policy show``, the REST API) renders
exactly what the controller serving that switch installs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from op25b_app.core import constants
from op25b_app.core.actions import NORMAL, Action, parse_pass_action
from op25b_app.core.errors import FlowSpecError, PolicyOptionError
from op25b_app.core.limits import MAX_TABLE_ID

BLOCK_ACTIONS = ("drop", "reject")


@dataclasses.dataclass(frozen=True)
class PolicyOptions:
    """Deployment knobs that change how the policy is rendered, not what it means.

    ``pass_action`` is ``normal`` (hybrid switch, lab default) or ``goto:N``
    (op25b owns ``table_id``; another app forwards in table N); text given
    here is parsed into an ``Action`` once, when the options are made.
    ``max_entries`` caps the weighted entry count per switch (0 = no cap);
    IPv6 entries weigh ``ipv6_entry_weight`` because many ASICs spend two TCAM
    slots on a 128-bit match.
    """

    table_id: int = constants.DEFAULT_TABLE_ID
    priority_base: int = constants.DEFAULT_PRIORITY_BASE
    pass_action: Action = NORMAL
    max_entries: int = 0
    ipv6_entry_weight: int = 2
    #: "drop" (default) or "reject": blocked SYNs are answered with a TCP RST
    #: by the controller so mail clients fail at once instead of timing out.
    block_action: str = "drop"
    #: Meter through which blocked SYNs reach the controller (0 = none). Set
    #: when rejecting or sampling; the meter caps what an infected host can
    #: push to the controller.
    punt_meter: int = 0
    #: Table for monitor-mode samples (0 = no sampling in monitor mode). Must
    #: be a table no other application uses; needs pass_action "normal".
    sample_table: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.pass_action, Action) and isinstance(self.pass_action, str):
            try:
                action = Action.parse(self.pass_action)
            except FlowSpecError:
                return  # validate_options names the bad value
            object.__setattr__(self, "pass_action", action)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready builtins (stored with the controller's status)."""
        data = dataclasses.asdict(self)
        data["pass_action"] = str(self.pass_action)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyOptions:
        """Options from ``to_dict``'s output; unknown keys are ignored, missing ones default.

        Raises PolicyOptionError when the result is not valid.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        options = cls(**{k: v for k, v in data.items() if k in known})
        validate_options(options)
        return options


#: PolicyOptions is frozen, so one shared default instance is safe.
DEFAULT_OPTIONS = PolicyOptions()


def validate_options(options: PolicyOptions) -> None:
    """Refuse options that would produce entries a switch rejects or that break
    the band ordering (e.g. DEFAULT_DROP colliding with the priority-0 MISS)."""
    if isinstance(options.table_id, bool) or not isinstance(options.table_id, int):
        raise PolicyOptionError(f"table_id={options.table_id!r}: must be an integer")
    if not 0 <= options.table_id <= MAX_TABLE_ID:
        raise PolicyOptionError(f"table_id={options.table_id}: must be in 0..{MAX_TABLE_ID}")
    base = options.priority_base
    if isinstance(base, bool) or not isinstance(base, int):
        raise PolicyOptionError(f"priority_base={base!r}: must be an integer")
    if not 1 <= base <= constants.MAX_PRIORITY_BASE:
        raise PolicyOptionError(
            f"priority_base={base}: must be in 1..{constants.MAX_PRIORITY_BASE}"
        )
    try:
        parse_pass_action(options.pass_action, options.table_id)
    except FlowSpecError as exc:
        raise PolicyOptionError(
            f"pass_action={options.pass_action!r} with table_id={options.table_id}: {exc.reason}"
        ) from exc
    if (
        isinstance(options.max_entries, bool)
        or not isinstance(options.max_entries, int)
        or (options.max_entries < 0)
    ):
        raise PolicyOptionError(
            f"max_entries={options.max_entries!r}: must be an integer >= 0 (0 = no cap)"
        )
    weight = options.ipv6_entry_weight
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise PolicyOptionError(f"ipv6_entry_weight={weight!r}: must be an integer >= 1")
    if options.block_action not in BLOCK_ACTIONS:
        raise PolicyOptionError(f"block_action={options.block_action!r}: must be drop or reject")
    if options.block_action == "reject" and not options.punt_meter:
        raise PolicyOptionError("block_action='reject' needs a punt meter (sampling rate > 0)")
