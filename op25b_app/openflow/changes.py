"""Apply the database's changes to a switch as changes, not as a recompile.

The enforcer hands each connected switch's session the snapshot patches of
the change log (``db.snapshot_patch``); here they are patched into the
session's compiled policy (``core.incremental.SwitchPolicy``) and only the
entries that differ are sent. That is what makes one subscriber's change on
a 100k-subscriber switch cost milliseconds. Anything that cannot be patched
exactly sends the session back to a full compile.
"""

from __future__ import annotations

import logging

from op25b_app.core.incremental import Unpatchable
from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.openflow.runtime import Runtime
from op25b_app.openflow.session import SwitchSession
from op25b_app.openflow.sync import SwitchSync

LOG = logging.getLogger("op25b.changes")


def apply_pending(session: SwitchSession, sync: SwitchSync, runtime: Runtime,
                  snapshot: PolicySnapshot, noticed_at: float) -> bool:
    """Bring the switch to ``snapshot`` by its pending patches; False: compile in full.

    Only when the switch holds exactly the session's policy (nothing to read
    back, nothing refused) and the patches lead to ``snapshot``.
    """
    policy = session.policy
    if policy is None or session.read_back or session.installed is not policy.entries:
        return False
    try:
        while session.pending:
            snap, removed, added = session.pending.pop(0)
            if snap.revision <= policy.revision:
                continue  # the policy was compiled from this or a newer snapshot
            gone, new = runtime.run_blocking(policy.apply, snap, removed, added, runtime.now())
            sync.apply_change(session, snap.revision, gone, new, noticed_at)
            if session.policy is None:
                return False
        due = policy.next_change
        if session.expire_due or (due is not None and runtime.now() >= due):
            session.expire_due = False
            gone, new = runtime.run_blocking(policy.expire, snapshot, runtime.now())
            sync.apply_change(session, policy.revision, gone, new, noticed_at)
    except Unpatchable as reason:
        LOG.info("switch %s: %s; compiling in full", session.label, reason)
        return False
    # A patch missed while the session was being compiled leaves it behind.
    return session.policy is not None and policy.revision == snapshot.revision
