"""The one module that imports the SDN framework.

Ryu 4.34 is unmaintained; OpenStack's os-ken is the same API under
``os_ken.*``. Everything op25b needs from the framework is re-exported from
here, so moving to os-ken (or a native-thread hub) is an edit to this file
only. The eventlet compatibility fix runs before the first ``ryu`` import.
"""

from __future__ import annotations

from op25b_app.openflow import eventlet_compat

eventlet_compat.apply()

# Ryu's import graph is circular unless app_manager is imported first.
from eventlet import tpool  # noqa: E402
from ryu import cfg  # noqa: E402
from ryu import version as ryu_version  # noqa: E402
from ryu.base import app_manager  # noqa: E402
from ryu.controller import ofp_event  # noqa: E402
from ryu.controller.handler import (  # noqa: E402
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from ryu.lib import hub  # noqa: E402
from ryu.ofproto import ofproto_v1_3  # noqa: E402

RyuApp = app_manager.RyuApp
CONF = cfg.CONF
#: Run blocking work on a native thread, off the event loop (eventlet's tpool:
#: the hub Ryu and os-ken run on).
run_on_native_thread = tpool.execute

__all__ = [
    "CONF",
    "CONFIG_DISPATCHER",
    "DEAD_DISPATCHER",
    "MAIN_DISPATCHER",
    "RyuApp",
    "cfg",
    "hub",
    "ofp_event",
    "ofproto_v1_3",
    "run_manager",
    "run_on_native_thread",
    "ryu_version",
    "set_ev_cls",
]


def run_manager(argv: list[str]) -> None:
    """Run Ryu's manager (``ryu-manager``) with ``argv`` as its command line."""
    from ryu.cmd import manager

    manager.main(args=argv, prog="op25b-controller")
