"""The Ryu application: a thin adapter from the pure policy to OpenFlow.

Events in (switch connected, replies, errors), messages out. What an entry
*is* comes from ``op25b_app.core.compile``; what to send comes from
``op25b_app.core.reconcile``; how a message looks comes from ``op25b_app.openflow.messages``.
This module only schedules work and keeps per-switch state.

Database reads and policy compiles run in eventlet's native thread pool
(``tpool``) so a 100k-subscriber compile never starves echo replies.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import weakref
from typing import Any

from op25b_app.core import constants
from op25b_app.core.limits import MAX_METER_ID, MAX_TABLE_ID
from op25b_app.core.options import BLOCK_ACTIONS, PolicyOptions, validate_options
from op25b_app.db.change_source import DatabaseSource
from op25b_app.db.engine import DEFAULT_DB_URL
from op25b_app.openflow.enforcer import Enforcer, EnforcerOptions
from op25b_app.openflow.listener import TlsListener
from op25b_app.openflow.metrics import Metrics
from op25b_app.openflow.ryu_compat import (
    CONF,
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    RyuApp,
    cfg,
    hub,
    ofp_event,
    ofproto_v1_3,
    run_on_native_thread,
    set_ev_cls,
)

LOG = logging.getLogger("op25b.app")

#: The option defaults are the option objects' own defaults (one definition each).
_POLICY = PolicyOptions()
_RUN = EnforcerOptions()

OPTS = [
    cfg.StrOpt("db", default=DEFAULT_DB_URL,
               help="SQLAlchemy URL of the subscriber database "
                    "(sqlite:///path or postgresql+psycopg://user@host/db)."),
    cfg.IntOpt("table-id", default=_POLICY.table_id, min=0, max=MAX_TABLE_ID,
               help="OpenFlow table op25b installs its entries in."),
    cfg.IntOpt("priority-base", default=_POLICY.priority_base, min=1,
               max=constants.MAX_PRIORITY_BASE,
               help="Lowest priority of op25b's bands (bands use base..base+3000)."),
    cfg.StrOpt("pass-action", default=str(_POLICY.pass_action),
               help="What passing traffic does: 'normal' (hybrid switch) or "
                    "'goto:N' (another app forwards in table N > table-id)."),
    cfg.IntOpt("max-entries", default=_POLICY.max_entries, min=0,
               help="Refuse a policy with more (weighted) entries per switch "
                    "than this; the switch keeps its last good policy. 0 = no cap."),
    cfg.IntOpt("ipv6-entry-weight", default=_POLICY.ipv6_entry_weight, min=1,
               help="How many entries an IPv6 entry counts as against max-entries."),
    cfg.FloatOpt("poll-interval", default=_RUN.poll_interval, min=0.05,
                 help="Seconds between checks of the database's policy revision."),
    cfg.FloatOpt("reconcile-interval", default=_RUN.reconcile_interval, min=0.0,
                 help="Seconds between read-backs of every switch's op25b entries "
                      "(drift repair). 0 disables periodic reconciliation."),
    cfg.StrOpt("controller-id", default="",
               help="Name this controller writes its status under in the database "
                    "(default: HOSTNAME:OFP_PORT, stable across restarts)."),
    cfg.FloatOpt("status-interval", default=_RUN.status_interval, min=0.5,
                 help="Seconds between status heartbeats written to the database "
                      "(switch state changes are written at once)."),
    cfg.FloatOpt("stats-interval", default=_RUN.stats_interval, min=0.0,
                 help="Seconds between reads of the blocked-attempt counters "
                      "(flow statistics of the counted entries). 0 disables."),
    cfg.IntOpt("counter-retention-days", default=_RUN.counter_retention.days, min=1,
               help="Days of hourly blocked-attempt aggregates kept in the database."),
    cfg.StrOpt("metrics-listen", default="127.0.0.1:9325",
               help="HOST:PORT of the Prometheus /metrics endpoint; empty disables it."),
    cfg.IntOpt("metrics-subscriber-limit", default=100, min=0,
               help="At most this many accounts get their own metrics label; the rest "
                    "are summed under account=\"_other\" (bounded cardinality)."),
    cfg.IntOpt("sample-rate", default=_RUN.sample_rate, min=0,
               help="Blocked SYNs per second (per switch) sent to the controller through "
                    "an OpenFlow meter, to record their headers (addresses, port, time; "
                    "never payload). 0 disables sampling. Required by block-action=reject."),
    cfg.StrOpt("block-action", default=_POLICY.block_action, choices=list(BLOCK_ACTIONS),
               help="drop: blocked SYNs are dropped (the client times out); reject: the "
                    "controller answers each sampled SYN with a TCP RST so mail clients "
                    "fail at once with 'connection refused'."),
    cfg.IntOpt("sample-table", default=1, min=1, max=MAX_TABLE_ID,
               help="Table (> table-id, used by no other app) where monitor-mode copies of "
                    "port-25 SYNs are metered and sent to the controller; the mail itself "
                    "is forwarded before the copy is made. Needs pass-action=normal."),
    cfg.IntOpt("punt-meter-id", default=25, min=1, max=MAX_METER_ID,
               help="OpenFlow meter id op25b uses to rate-limit SYNs sent to it."),
    cfg.StrOpt("bundles", default="auto", choices=["auto", "off"],
               help="auto: updates travel in one atomic OpenFlow bundle (ONF extension) "
                    "where the switch takes them, else as adds, barrier, deletes; off: "
                    "always adds, barrier, deletes."),
    cfg.FloatOpt("barrier-timeout", default=_RUN.barrier_timeout, min=1.0,
                 help="Seconds to wait for a switch to confirm an update."),
]
CONF.register_cli_opts(OPTS, group="op25b")


def options_from_conf() -> tuple[PolicyOptions, EnforcerOptions]:
    """Read op25b's oslo.config group into the pure option objects."""
    c = CONF.op25b
    policy = PolicyOptions(
        table_id=c.table_id,
        priority_base=c.priority_base,
        pass_action=c.pass_action,
        max_entries=c.max_entries,
        ipv6_entry_weight=c.ipv6_entry_weight,
        block_action=c.block_action,
        punt_meter=c.punt_meter_id if c.sample_rate > 0 else 0,
        sample_table=c.sample_table if c.sample_rate > 0 else 0,
    )
    port = CONF.ofp_tcp_listen_port or 6653
    controller_id = c.controller_id or f"{socket.gethostname()}:{port}"
    enforcer = EnforcerOptions(
        controller_id=controller_id,
        status_interval=c.status_interval,
        poll_interval=c.poll_interval,
        reconcile_interval=c.reconcile_interval,
        barrier_timeout=c.barrier_timeout,
        stats_interval=c.stats_interval,
        sample_rate=c.sample_rate,
        block_action=c.block_action,
        bundles=c.bundles == "auto",
        counter_retention=dt.timedelta(days=c.counter_retention_days),
    )
    return policy, enforcer


class RyuRuntime:
    """What the enforcer needs from the framework: green threads and native threads."""

    spawn = staticmethod(hub.spawn)
    sleep = staticmethod(hub.sleep)
    Event = hub.Event
    Semaphore = hub.BoundedSemaphore

    @staticmethod
    def run_blocking(func: Any, *args: Any) -> Any:
        """Run CPU- or IO-heavy work on a native thread, off the event loop."""
        return run_on_native_thread(func, *args)

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class Op25bApp(RyuApp):
    """Installs and keeps OP25B flow entries on every connected switch."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy_opts, enforcer_opts = options_from_conf()
        # Refuse contradictory options at start-up, not at the first switch.
        validate_options(policy_opts)
        self.metrics = Metrics(CONF.op25b.metrics_subscriber_limit)
        # Built (and Ryu's listener replaced) before Ryu's OpenFlow controller
        # starts: a bad key or certificate stops the controller here.
        self.tls = TlsListener.from_conf()
        #: Connections whose certificate did not name the dpid they claimed.
        self._refused: weakref.WeakSet[Any] = weakref.WeakSet()
        # The app builds the database source and hands it in: the enforcer
        # never chooses where its data comes from (tests hand in a fake).
        source = DatabaseSource(CONF.op25b.db)
        self.enforcer = Enforcer(policy_opts, enforcer_opts, RyuRuntime(), source,
                                 metrics=self.metrics)

    def _serve_metrics(self) -> None:
        listen = CONF.op25b.metrics_listen
        if not listen:
            return
        host, _, port = listen.rpartition(":")
        try:
            server = hub.WSGIServer((host.strip("[]") or "127.0.0.1", int(port)),
                                    self.metrics.wsgi_app())
        except (OSError, ValueError) as exc:
            LOG.error("metrics endpoint %s not started: %s", listen, exc)
            return
        hub.spawn(server.serve_forever)
        LOG.info("metrics on http://%s/metrics", listen)

    def start(self) -> Any:
        thread = super().start()
        self._serve_metrics()
        self.enforcer.start()
        return thread

    def stop(self) -> None:
        self.enforcer.stop()
        super().stop()

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev: Any) -> None:
        dp = ev.datapath
        if dp in self._refused:
            return
        if ev.state == MAIN_DISPATCHER and dp.id is not None:
            self._warn_if_duplicate(dp)
            self.enforcer.switch_connected(dp.id, dp)
        elif ev.state == DEAD_DISPATCHER and dp.id is not None:
            self.enforcer.switch_disconnected(dp.id, dp)

    def _warn_if_duplicate(self, dp: Any) -> None:
        old = self.enforcer.sessions.get(dp.id)
        if old is not None and old.datapath is not dp:
            LOG.warning("switch %016x connected from %s while its connection from %s is open: "
                        "the new one replaces it (a restarted switch, or two switches "
                        "claiming one datapath id)", dp.id, dp.address,
                        getattr(old.datapath, "address", "?"))

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev: Any) -> None:
        dp = ev.msg.datapath
        LOG.info("switch %016x connecting from %s", ev.msg.datapath_id, dp.address)
        # This app's events arrive in order: the MAIN state change of this
        # connection comes after this, so no session is ever made for it.
        if self.tls is not None and self.tls.refusal(dp, ev.msg.datapath_id) is not None:
            self._refused.add(dp)
            self.tls.hang_up(dp)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev: Any) -> None:
        msg = ev.msg
        more = bool(msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE)
        self.enforcer.on_flow_stats(msg.datapath.id, msg.xid, msg.body, more)

    @set_ev_cls(ofp_event.EventOFPMeterConfigStatsReply, MAIN_DISPATCHER)
    def _meter_config(self, ev: Any) -> None:
        msg = ev.msg
        more = bool(msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE)
        self.enforcer.on_meter_config(msg.datapath.id, msg.xid, msg.body, more)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev: Any) -> None:
        msg = ev.msg
        self.enforcer.on_packet_in(msg.datapath.id, msg.cookie, msg.match.get("in_port"),
                                   bytes(msg.data or b""), msg.match.get("metadata"))

    @set_ev_cls(ofp_event.EventOFPGetConfigReply, MAIN_DISPATCHER)
    def _config(self, ev: Any) -> None:
        self.enforcer.on_flow_stats(ev.msg.datapath.id, ev.msg.xid, [ev.msg], False)

    @set_ev_cls(ofp_event.EventONFBundleCtrlMsg, MAIN_DISPATCHER)
    def _bundle_control(self, ev: Any) -> None:
        self.enforcer.on_flow_stats(ev.msg.datapath.id, ev.msg.xid, [ev.msg], False)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier(self, ev: Any) -> None:
        self.enforcer.on_barrier(ev.msg.datapath.id, ev.msg.xid)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _error(self, ev: Any) -> None:
        msg = ev.msg
        self.enforcer.on_error(msg.datapath.id, msg.xid, msg.type, msg.code, bytes(msg.data or b""))


__all__ = ["Op25bApp"]
