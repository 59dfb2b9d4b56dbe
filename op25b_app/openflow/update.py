"""How one update plan reaches a switch: one atomic bundle, or the gap-free order.

*Bundled* (the ONF bundle extension of OpenFlow 1.3, which Open vSwitch
supports): open a bundle, put every add, modify and delete of the plan in
it, confirm with a barrier that the switch took them all, then commit. The
switch applies the whole update at once or not at all, so no packet ever
sees half of it, and an install goes at the switch's bulk speed. If the
switch refused any message of the bundle, it is discarded instead: nothing
changes and the switch keeps its old policy.

*Ordered* (a switch without bundles): adds and modifies, a barrier, then
deletes and a barrier. At every instant each packet gets the old or the new
verdict (see ``core.reconcile``); if an add was refused no delete is sent.
"""

from __future__ import annotations

import itertools
import logging

from op25b_app.core.reconcile import UpdatePlan
from op25b_app.openflow import messages, wire
from op25b_app.openflow.channel import Channel

LOG = logging.getLogger("op25b.update")

_bundle_ids = itertools.count(1)


def probe_bundles(channel: Channel) -> bool:
    """Whether the switch accepts ONF bundles: open one, then discard it."""
    dp = channel.datapath
    bundle = next(_bundle_ids) & 0xFFFFFFFF
    channel.reset_errors()
    replies = channel.request(messages.bundle_control(dp, bundle, wire.ONF_BCT_OPEN_REQUEST),
                              "bundle open")
    opened = (not channel.errors and bool(replies)
              and getattr(replies[0], "type", None) == wire.ONF_BCT_OPEN_REPLY)
    if opened:
        channel.request(messages.bundle_control(dp, bundle, wire.ONF_BCT_DISCARD_REQUEST),
                        "bundle discard")
    channel.reset_errors()
    return opened


def apply_ordered(channel: Channel, plan: UpdatePlan) -> None:
    """Adds, barrier, deletes, barrier: the order that never opens a gap."""
    channel.reset_errors()
    if plan.adds or plan.modifies:
        if plan.adds:
            channel.send_specs("add", plan.adds)
        if plan.modifies:
            channel.send_specs("modify", plan.modifies, keep_xids=bool(plan.adds))
        channel.barrier()
        if channel.errors:
            # Keep every old entry: deleting them now could open a gap
            # where an add was refused.
            return
    if plan.deletes:
        channel.send_specs("delete", plan.deletes)
        channel.barrier()


def apply_bundled(channel: Channel, plan: UpdatePlan) -> None:
    """The whole plan in one atomic bundle; discarded if the switch refused any of it."""
    dp = channel.datapath
    bundle = next(_bundle_ids) & 0xFFFFFFFF
    channel.reset_errors()
    channel.request(messages.bundle_control(dp, bundle, wire.ONF_BCT_OPEN_REQUEST),
                    "bundle open")
    if channel.errors:
        return
    keep = False
    for kind, specs in (("add", plan.adds), ("modify", plan.modifies),
                        ("delete", plan.deletes)):
        if specs:
            channel.send_specs(kind, specs, keep_xids=keep, bundle=bundle)
            keep = True
    # The barrier returns once the switch has taken (or refused) every message.
    channel.barrier()
    control = wire.ONF_BCT_DISCARD_REQUEST if channel.errors else wire.ONF_BCT_COMMIT_REQUEST
    channel.request(messages.bundle_control(dp, bundle, control),
                    "bundle commit" if control == wire.ONF_BCT_COMMIT_REQUEST
                    else "bundle discard")
