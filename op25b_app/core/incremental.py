"""One switch's compiled policy, kept current change by change.

``compile_policy`` recompiles a whole switch; at 100k subscribers on one
switch that is half a second for every subscriber added. ``SwitchPolicy``
compiles once, remembers which entries each attachment produced, and then
applies a change of a few attachments by recompiling just those: the result
is always exactly what ``compile_policy`` would give for the same snapshot
(``tests/unit/core/test_incremental.py`` checks it after random change
sequences). What it cannot patch - a change of mode, an encapsulation an
attachment carries, two attachments describing the same traffic - it says
(``Unpatchable``), and the caller compiles the switch in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from op25b_app.core import constants
from op25b_app.core.attachment_entries import attachment_entries, attachment_specificity
from op25b_app.core.compile import block_action_for, compile_policy, switch_for
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import ROLE_CORE, AttachmentRule, PolicySnapshot


class Unpatchable(Exception):
    """This change needs a full compile of the switch."""


class SwitchPolicy:
    """The entries one switch should hold, with what each attachment contributed."""

    def __init__(self, snapshot: PolicySnapshot, dpid: int, now: dt.datetime,
                 options: PolicyOptions) -> None:
        entries, _next = compile_policy(snapshot, dpid, now, options)
        self.dpid = dpid
        self.options = options
        self.revision = snapshot.revision
        self.entries: set[FlowSpec] = set(entries)
        self._mode, self._mode_change = snapshot.enforcement(dpid, now)
        switch, rules = switch_for(snapshot, dpid)
        self._compact = switch.compact
        if switch.role == ROLE_CORE:
            self._mode_change = None  # a core switch's single entry never changes by time
        self._rules: dict[int, AttachmentRule] = {r.attachment_id: r for r in rules}
        self._carrying = {r.attachment_id for r in rules if r.carries}
        self._by_attachment: dict[int, tuple[FlowSpec, ...]] = {}
        band = constants.Band.ATTACHMENT
        for spec in entries:
            if constants.band_of(spec.cookie) == band:
                owner = constants.attachment_of(spec.cookie)
                self._by_attachment[owner] = self._by_attachment.get(owner, ()) + (spec,)
        self._keys = {(s.priority, s.match) for s in entries
                      if constants.band_of(s.cookie) == band}
        self._expiries = {r.attachment_id: r.exempt_until for r in rules
                          if _expires(r, now)}

    @property
    def next_change(self) -> dt.datetime | None:
        """When the policy changes by itself (an opt-out ends, enforcement starts)."""
        times = [t for t in (*self._expiries.values(), self._mode_change) if t is not None]
        return min(times, default=None)

    def apply(self, snapshot: PolicySnapshot, removed: Iterable[int],
              added: Iterable[AttachmentRule], now: dt.datetime,
              ) -> tuple[set[FlowSpec], set[FlowSpec]]:
        """Replace the attachments ``removed`` (ids) by ``added`` (rules) at ``now``.

        Returns ``(entries gone, entries new)``; ``entries`` is updated. Raises
        ``Unpatchable`` when only a full compile gives the right answer.
        """
        if snapshot.enforcement(self.dpid, now)[0] != self._mode:
            raise Unpatchable("the enforcement mode changed")
        if self._compact:
            # One attachment can decide whether another's entry is needed.
            raise Unpatchable("a compact switch is compiled in full")
        added = [r for r in added if r.dpid == self.dpid]
        gone_ids = set(removed) | {r.attachment_id for r in added}
        if any(r.carries for r in added) or gone_ids & self._carrying:
            raise Unpatchable("an attachment carries an encapsulation")
        gone: set[FlowSpec] = set()
        for ident in gone_ids:
            gone.update(self._by_attachment.pop(ident, ()))
            self._rules.pop(ident, None)
            self._expiries.pop(ident, None)
        # Changed in place: after Unpatchable the caller drops this object.
        keys = self._keys
        keys.difference_update((s.priority, s.match) for s in gone)
        new = self._compile(added, now)
        for spec in new:
            key = (spec.priority, spec.match)
            if key in keys:
                raise Unpatchable("two attachments describe the same traffic")
            keys.add(key)
        for rule in added:
            self._rules[rule.attachment_id] = rule
            if _expires(rule, now):
                self._expiries[rule.attachment_id] = rule.exempt_until
        for spec in new:
            owner = constants.attachment_of(spec.cookie)
            self._by_attachment[owner] = self._by_attachment.get(owner, ()) + (spec,)
        self.entries -= gone
        self.entries |= new
        self.revision = snapshot.revision
        return gone - new, new - gone

    def expire(self, snapshot: PolicySnapshot, now: dt.datetime,
               ) -> tuple[set[FlowSpec], set[FlowSpec]]:
        """The attachments whose opt-out ended by ``now``, recompiled."""
        if self._mode_change is not None and now >= self._mode_change:
            raise Unpatchable("enforcement starts by time")
        due = [ident for ident, until in self._expiries.items()
               if until is not None and until <= now]
        return self.apply(snapshot, due, [self._rules[i] for i in due], now)

    def _compile(self, rules: list[AttachmentRule], now: dt.datetime) -> set[FlowSpec]:
        options = self.options
        pass_action, block_action = block_action_for(self._mode, options)
        ordered = sorted(rules, key=attachment_specificity)
        return set(attachment_entries(tuple(ordered), self.dpid, now, options.table_id,
                                      options.priority_base, pass_action, block_action))


def _expires(rule: AttachmentRule, now: dt.datetime) -> bool:
    return (rule.exempt and rule.type_blocked and rule.exempt_until is not None
            and rule.exempt_until > now)
