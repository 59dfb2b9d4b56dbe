"""Monitor or enforce: the ISP-wide mode, per-switch overrides, and the scheduled start.

An ISP announces OP25B months ahead and counts who would be affected before
blocking anyone, so the mode is data, not configuration: a start time makes
the controllers monitor until then and enforce from then on by themselves,
with no one at a keyboard at midnight. A switch may override the global
setting (a pilot area), and ``inherit`` drops its override again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.core.constants import MODE_ENFORCE, MODES
from op25b_app.db.models import GlobalEnforcement, Switch
from op25b_app.service.errors import ValidationError
from op25b_app.service.inputs import parse_dpid, parse_time
from op25b_app.service.switches import switch_by_dpid
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import to_jsonable

log = logging.getLogger(__name__)

#: The mode that removes a switch's override.
INHERIT = "inherit"


class EnforcementOps(ServiceBase):
    """Mixed into ``PolicyService``: reading and setting the enforcement mode."""

    def show_enforcement(self) -> dict[str, Any]:
        """The global mode and start time, and every switch's override."""
        with self._read() as session:
            glob = session.get(GlobalEnforcement, 1)
            switches = session.scalars(sa.select(Switch).order_by(Switch.dpid)).all()
            return {
                "global": {"mode": glob.mode if glob else MODE_ENFORCE,
                           "enforce_at": glob.enforce_at if glob else None},
                "switches": [{"dpid": s.dpid, "name": s.name, "mode": s.mode,
                              "enforce_at": s.enforce_at}
                             for s in switches if s.mode is not None or s.enforce_at is not None],
            }

    def set_enforcement(
        self,
        mode: str | None,
        enforce_at: dt.datetime | str | None = None,
        dpid: int | str | None = None,
        clear_at: bool = False,
    ) -> dict[str, Any]:
        """Set monitor/enforce globally or for one switch, optionally with a start time.

        With a start time the switches monitor until then and enforce from then
        on, switched by the controller itself. For a switch, mode ``inherit``
        removes its override.
        """
        if mode is not None and mode not in (*MODES, INHERIT):
            raise ValidationError("mode", mode, "must be enforce, monitor or inherit")
        if mode == INHERIT and dpid is None:
            raise ValidationError("mode", mode, "only a switch can inherit")
        when = None if enforce_at is None else parse_time(enforce_at, "at", self._tz)
        with self._write() as session:
            target: GlobalEnforcement | Switch
            if dpid is None:
                target, key = _global_row(session), "global"
            else:
                dpid_value = parse_dpid(dpid)
                target, key = switch_by_dpid(session, dpid_value, dpid), f"{dpid_value:#x}"
            before = _setting(target)
            _apply(target, mode, when, clear_at)
            after = _setting(target)
            session.flush()
            self._audit(session).record(
                "enforcement", key, "set", to_jsonable(before), to_jsonable(after)
            )
        log.info("enforcement %s set to %s", key, after)
        return self.show_enforcement()


def _global_row(session: Session) -> GlobalEnforcement:
    """The single global row, created (as "enforce") if a fresh database lacks it."""
    row = session.get(GlobalEnforcement, 1)
    if row is None:
        row = GlobalEnforcement(id=1, mode=MODE_ENFORCE)
        session.add(row)
    return row


def _setting(target: GlobalEnforcement | Switch) -> dict[str, Any]:
    return {"mode": target.mode, "enforce_at": target.enforce_at}


def _apply(
    target: GlobalEnforcement | Switch, mode: str | None, when: dt.datetime | None,
    clear_at: bool,
) -> None:
    """Change what was asked for and leave the rest: None means "keep"."""
    if mode == INHERIT:
        assert isinstance(target, Switch)  # refused for the global setting above
        target.mode = None
        target.enforce_at = None
    elif mode is not None:
        target.mode = mode
    if when is not None or clear_at:
        target.enforce_at = when
