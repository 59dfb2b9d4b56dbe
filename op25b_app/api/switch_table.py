"""The REST bodies for a switch's flow-table settings: capacity and compact rendering.

Apart from ``schemas`` only because that module is at its size limit; the
rules about the values (ranges, what "no limit" is) are the service's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from op25b_app.service import limits

_CAPACITY = (f"Flow entries the switch holds, 1..{limits.MAX_SWITCH_CAPACITY} (IPv6 entries "
             "count as the controller's ipv6_entry_weight, 2 by default); a write that would "
             "compile more for it is refused (409). null: no limit.")
_COMPACT = ("No entry per blocked subscriber (the default drop blocks them): far fewer "
            "entries; blocked attempts are counted per port, not per subscriber.")


class TableSettings(BaseModel):
    """Mixed into ``SwitchCreate``: the switch's table settings, both optional."""

    capacity: StrictInt | None = Field(default=None, description=_CAPACITY)
    compact: StrictBool = Field(default=False, description=_COMPACT)


class SwitchPatch(BaseModel):
    """Change a switch's table settings; a key left out is left as it is."""

    model_config = ConfigDict(strict=True, extra="forbid")

    capacity: StrictInt | None = Field(default=None, description=_CAPACITY)
    compact: StrictBool | None = Field(default=None, description=_COMPACT + " null: unchanged.")
