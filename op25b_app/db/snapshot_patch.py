"""A new snapshot from the last one and the change log: read only what changed.

The controller holds the snapshot of revision S. When the database moves to
R it reads the rows the policy triggers logged after S (``change_log``), the
current version of each touched attachment (and every attachment of each
touched subscriber), and builds the snapshot of R from S with those replaced.
One subscriber changed on a 100k-subscriber switch costs a few rows.

When the patch could not be exact - the log does not reach back, a switch,
uplink, connection type, MTA or the global enforcement changed, a row is or
was quarantined, or the snapshot holds dynamic sessions (a session rule
depends on its account's subscriber row and merges with a static rule of the
same match) - it returns None and the caller loads everything
(``load_snapshot``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from op25b_app.core.session_ids import SESSION_ID_BASE
from op25b_app.core.snapshot import AttachmentRule, PolicySnapshot
from op25b_app.db.change_log import read_changes
from op25b_app.db.engine import read_connection
from op25b_app.db.row_checks import Quarantine
from op25b_app.db.snapshot_loader import (
    load_attachment_rules,
    load_connection_types,
    load_switch_rows,
)

#: More touched rows than this (a bulk import) are read faster by a full load.
PATCH_LIMIT = 5000


@dataclasses.dataclass(frozen=True)
class SnapshotPatch:
    """The snapshot of the new revision, and what changed to get there."""

    snapshot: PolicySnapshot
    #: Attachment ids whose old rules are gone (changed ones included), on any switch.
    removed: frozenset[int]
    #: The new rules of the touched attachments, by switch.
    added: Mapping[int, tuple[AttachmentRule, ...]]
    #: attachment id -> dpid for the new snapshot (kept current for the next patch).
    dpid_of: dict[int, int]


def attachment_index(snapshot: PolicySnapshot) -> dict[int, int]:
    """attachment id -> dpid of every attachment in ``snapshot``."""
    return {rule.attachment_id: dpid for dpid in snapshot.attachments
            for rule in snapshot.attachments_for(dpid)}


def load_patch(engine: Engine, base: PolicySnapshot,
               dpid_of: dict[int, int]) -> SnapshotPatch | None:
    """The snapshot after ``base`` with only the logged changes read; None: load all.

    ``dpid_of`` is ``attachment_index(base)`` (or the previous patch's).
    """
    if base.quarantined:
        # A quarantined row may have suspended other rows' opt-outs, which a
        # patch cannot tell: only a full load puts them right.
        return None
    if max(dpid_of, default=0) >= SESSION_ID_BASE:
        return None  # sessions present: see the module docstring
    with read_connection(engine) as conn:
        changes = read_changes(conn, base.revision)
        if changes is None:
            return None
        if changes.empty:
            return SnapshotPatch(dataclasses.replace(base, revision=changes.revision),
                                 frozenset(), {}, dpid_of)
        if len(changes.attachments) + len(changes.subscribers) > PATCH_LIMIT:
            return None
        quarantine = Quarantine()
        switch_rows, _switches = load_switch_rows(conn, quarantine)
        types = load_connection_types(conn, quarantine)
        if quarantine.rows:
            return None
        added = load_attachment_rules(conn, switch_rows, types, quarantine,
                                  only=(changes.attachments, changes.subscribers))
    if quarantine.closed:
        return None
    removed = set(changes.attachments)
    removed.update(rule.attachment_id for rules in added.values() for rule in rules)
    return SnapshotPatch(_patched(base, changes.revision, removed, added, quarantine, dpid_of),
                         frozenset(removed), {d: tuple(r) for d, r in added.items()},
                         _reindexed(dpid_of, removed, added))


def _patched(base: PolicySnapshot, revision: int, removed: set[int],
             added: dict[int, list[AttachmentRule]], quarantine: Quarantine,
             dpid_of: dict[int, int]) -> PolicySnapshot:
    """``base`` with the ``removed`` attachments' rules replaced by ``added``.

    Only the switches that held or gain a touched attachment are rebuilt, as
    a mapping of attachment id to rule: the next patch copies that mapping
    (a C-level copy) instead of filtering a 100k-rule tuple. The base
    snapshot is never changed: a compile may be reading it on another thread.
    """
    attachments = dict(base.attachments)
    touched = set(added) | {dpid_of[i] for i in removed if i in dpid_of}
    for dpid in touched:
        rules = base.attachments.get(dpid, ())
        by_id = (dict(rules) if isinstance(rules, Mapping)
                 else {rule.attachment_id: rule for rule in rules})
        for ident in removed:
            by_id.pop(ident, None)
        for rule in added.get(dpid, ()):
            by_id[rule.attachment_id] = rule
        attachments[dpid] = by_id
    return dataclasses.replace(base, revision=revision, attachments=attachments,
                               quarantined=tuple(quarantine.rows))


def _reindexed(dpid_of: dict[int, int], removed: set[int],
               added: dict[int, list[AttachmentRule]]) -> dict[int, int]:
    """``dpid_of`` brought up to date, in place (its owner passes it on to the next patch)."""
    for ident in removed:
        dpid_of.pop(ident, None)
    for dpid, rules in added.items():
        for rule in rules:
            dpid_of[rule.attachment_id] = dpid
    return dpid_of
