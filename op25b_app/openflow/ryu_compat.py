"""The one module that imports the SDN framework.

Ryu 4.34 is unmaintained; OpenStack's os-ken is the same API under
``os_ken.*``. Everything op25b needs from the framework is re-exported from
here, so moving to os-ken (or a native-thread hub) is an edit to this file
only. The eventlet compatibility fix runs before the first ``ryu`` import.
"""

from __future__ import annotations

import struct
from typing import Any

from op25b_app.openflow import eventlet_compat

eventlet_compat.apply()

# Ryu's import graph is circular unless app_manager is imported first.
from eventlet import tpool  # noqa: E402
from ryu import cfg  # noqa: E402
from ryu import version as ryu_version  # noqa: E402
from ryu.base import app_manager  # noqa: E402
from ryu.controller import controller as ofp_controller  # noqa: E402
from ryu.controller import ofp_event  # noqa: E402
from ryu.controller.handler import (  # noqa: E402
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from ryu.lib import hub  # noqa: E402
from ryu.ofproto import ofproto_common  # noqa: E402
from ryu.ofproto import ofproto_v1_3  # noqa: E402
from ryu.ofproto import ofproto_v1_3_parser  # noqa: E402

RyuApp = app_manager.RyuApp
CONF = cfg.CONF
#: Run blocking work on a native thread, off the event loop (eventlet's tpool:
#: the hub Ryu and os-ken run on).
run_on_native_thread = tpool.execute
#: What ``openflow.listener`` replaces Ryu's switch listener with (TLS for every
#: connection, not only the first): the controller class, the per-connection
#: handler Ryu's listener calls, and the default TLS port.
OpenFlowController = ofp_controller.OpenFlowController
datapath_connection_factory = ofp_controller.datapath_connection_factory
OFP_SSL_PORT: int = ofproto_common.OFP_SSL_PORT



class LazyFlowStats:
    """A flow-stats entry whose match and instructions are parsed on first use.

    Ryu parses every entry of a flow-stats reply into objects on its event
    loop, about 55 us each: 5.5 s for a 100k-entry switch, every counter poll
    and every reconcile. The counter poll needs only the cookie and packet
    count of most entries, and the read-back recognises its own entries by
    their bytes (``openflow.fastread``), so the fixed header is unpacked here
    and the rest kept as bytes (``raw``) until ``match`` or ``instructions``
    is asked for; then Ryu's own parser runs, so the objects are Ryu's.
    """

    __slots__ = ("length", "table_id", "duration_sec", "duration_nsec", "priority",
                 "idle_timeout", "hard_timeout", "flags", "cookie", "packet_count",
                 "byte_count", "raw", "_full")
    length: int
    table_id: int
    duration_sec: int
    duration_nsec: int
    priority: int
    idle_timeout: int
    hard_timeout: int
    flags: int
    cookie: int
    packet_count: int
    byte_count: int
    raw: bytes
    _full: Any
    _HEAD = struct.Struct(ofproto_v1_3.OFP_FLOW_STATS_0_PACK_STR)

    @classmethod
    def parser(cls, buf: bytes, offset: int) -> "LazyFlowStats":
        stat = cls.__new__(cls)
        (stat.length, stat.table_id, stat.duration_sec, stat.duration_nsec, stat.priority,
         stat.idle_timeout, stat.hard_timeout, stat.flags, stat.cookie, stat.packet_count,
         stat.byte_count) = cls._HEAD.unpack_from(buf, offset)
        stat.raw = bytes(buf[offset:offset + stat.length])
        stat._full = None
        return stat

    def _parsed(self) -> Any:
        if self._full is None:
            self._full = ofproto_v1_3_parser.OFPFlowStats.parser(self.raw, 0)
        return self._full

    @property
    def match(self) -> Any:
        return self._parsed().match

    @property
    def instructions(self) -> list[Any]:
        return list(self._parsed().instructions)


# The reply class looks its body class up at parse time; this process runs
# only op25b, so every flow-stats reply it receives is parsed lazily.
ofproto_v1_3_parser.OFPFlowStatsReply.cls_stats_body_cls = LazyFlowStats

__all__ = [
    "CONF",
    "LazyFlowStats",
    "OFP_SSL_PORT",
    "OpenFlowController",
    "CONFIG_DISPATCHER",
    "DEAD_DISPATCHER",
    "MAIN_DISPATCHER",
    "RyuApp",
    "cfg",
    "datapath_connection_factory",
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
