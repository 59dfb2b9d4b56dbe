"""The policy rules that both single writes and the bulk import enforce.

The CSV import checks 100k rows against data preloaded in bulk instead of
one query per row, but it must apply exactly these rules with exactly these
messages, or an operator would get a different verdict for the same cell
from ``op25b subscriber add`` and from ``op25b subscriber import``. So both
paths call the functions here and neither restates a rule.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Collection, Iterable

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.core.limits import (
    MAX_ACCOUNT_CHARS,
    MAX_REASON_CHARS,
    MAX_SUBSCRIBER_NAME_CHARS,
)
from op25b_app.core.snapshot import ROLE_EDGE
from op25b_app.db.models import Mta
from op25b_app.service.errors import Conflict, ValidationError
from op25b_app.service.texts import check_free_text, check_key, check_text


def unknown_type(type_name: str, known: Iterable[str]) -> ValidationError:
    """The error for a connection type that does not exist."""
    return ValidationError(
        "type", type_name, f"no such connection type (known: {', '.join(sorted(known))})"
    )


def unknown_switch(field: str, value: object) -> ValidationError:
    """The error for a dpid no registered switch has."""
    return ValidationError(field, value, "no switch with this dpid is registered")


def check_subscriber_port(
    switch_name: str,
    role: str,
    uplinks: Collection[int],
    dpid_value: object,
    port_value: object,
    port: int,
    *,
    dpid_field: str = "dpid",
    port_field: str = "port",
) -> None:
    """Subscribers attach to customer-facing ports of edge switches only.

    An uplink attachment would put a subscriber rule on traffic from the
    core, and a core switch gets no subscriber entries at all.
    """
    if role != ROLE_EDGE:
        raise ValidationError(
            dpid_field,
            dpid_value,
            f"switch '{switch_name}' has role {role}; subscribers attach to edge switches",
        )
    if port in uplinks:
        raise ValidationError(
            port_field, port_value, f"is an uplink of switch '{switch_name}', not a subscriber port"
        )


def attachment_taken(field: str, value: object, owner: str) -> Conflict:
    """The error for an attachment whose exact match another account already has."""
    return Conflict(field, value, f"an identical attachment already belongs to account '{owner}'")


def check_exempt_reason(field: str, value: str) -> str:
    """An opt-out needs a reason an operator can later read back."""
    check_text(field, value, MAX_REASON_CHARS)
    return check_free_text(field, value, MAX_REASON_CHARS)


def check_future(field: str, value: object, when: dt.datetime, now: dt.datetime) -> None:
    """An opt-out ending in the past is a typo, not an intent."""
    if when <= now:
        raise ValidationError(field, value, "is not in the future")


def check_account(value: str, field: str = "account") -> str:
    """An account key: non-empty, no surrounding whitespace, visible characters only,
    NFKC form, at most ``MAX_ACCOUNT_CHARS`` characters (see ``texts``)."""
    return check_key(field, value, MAX_ACCOUNT_CHARS)


def check_subscriber_name(value: str | None, field: str = "name") -> str:
    """A subscriber's display name: free text up to ``MAX_SUBSCRIBER_NAME_CHARS``
    characters (may be empty), returned in the NFC form it is stored in."""
    return check_free_text(field, value, MAX_SUBSCRIBER_NAME_CHARS)


class MtaIndex:
    """The MTA prefixes, indexed so one overlap check costs a few dict lookups.

    CIDR blocks either nest or are disjoint, so a prefix overlaps an MTA iff
    an MTA block contains it (look up its supernet at each MTA prefix length)
    or it contains an MTA block (bisect the sorted MTA starts). A linear scan
    would cost #MTAs comparisons for each of 100k imported prefixes.
    """

    def __init__(self, mtas: Iterable[tuple[str, str]]) -> None:
        self._blocks: dict[tuple[int, int, int], tuple[str, str]] = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self._starts: dict[int, list[tuple[int, int, str, str]]] = {4: [], 6: []}
        for name, prefix in mtas:
            try:
                network = netaddr.IPNetwork(prefix).cidr
            except (netaddr.AddrFormatError, ValueError, TypeError):
                continue  # a row written by hand: the controller's loader names it
            version, first, length = network.version, network.value, network.prefixlen
            self._blocks.setdefault((version, length, first), (name, str(network)))
            self._starts[version].append((first, length, name, str(network)))
        for version in (4, 6):
            self._lengths[version] = sorted({length for _v, length, _f in self._blocks
                                             if _v == version})
            self._starts[version].sort()

    @classmethod
    def load(cls, session: Session) -> MtaIndex:
        """The index of the MTAs stored now."""
        return cls(session.execute(sa.select(Mta.name, Mta.prefix)).all())

    def overlapping(self, network: netaddr.IPNetwork) -> tuple[str, str] | None:
        """(name, prefix) of an MTA overlapping ``network``, if any."""
        version = network.version
        bits = 32 if version == 4 else 128
        first, length = network.value, network.prefixlen
        first &= ~((1 << (bits - length)) - 1)
        for mta_length in self._lengths[version]:
            if mta_length > length:
                break
            block = first & ~((1 << (bits - mta_length)) - 1)
            hit = self._blocks.get((version, mta_length, block))
            if hit is not None:
                return hit
        starts = self._starts[version]
        index = bisect_left(starts, (first, -1))
        if index < len(starts) and starts[index][0] <= first | ((1 << (bits - length)) - 1):
            return starts[index][2], starts[index][3]
        return None

    def check(self, field: str, value: object, network: netaddr.IPNetwork) -> None:
        """Refuse a subscriber prefix overlapping an MTA.

        Traffic to an MTA passes for everyone; a subscriber's own range
        there would silently stop being blocked (and its counters lie).
        """
        hit = self.overlapping(network)
        if hit is not None:
            raise Conflict(field, value, f"overlaps MTA '{hit[0]}' ({hit[1]})")
