"""The ISP's own mail relays (MTAs): the destinations TCP/25 may always reach.

OP25B blocks port 25 to the internet, not to the ISP's relays, so each MTA
prefix becomes a pass rule for every subscriber. An MTA prefix and a
subscriber's own prefix must never overlap: the subscriber's range would be
treated as a relay and silently stop being blocked.
"""

from __future__ import annotations

import logging

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.models import Attachment, Mta, Subscriber
from op25b_app.service.audit_states import mta_state
from op25b_app.service.errors import Conflict, NotFound, ValidationError
from op25b_app.service.inputs import NAME_RE, check_text, parse_prefix
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import MtaView, mta_view

log = logging.getLogger(__name__)


class MtaOps(ServiceBase):
    """Mixed into ``PolicyService``: registering, listing and removing MTAs."""

    def add_mta(self, name: str, prefix: str) -> MtaView:
        """Register one of the ISP's relays; TCP/25 to it passes for everyone.

        Refused when the prefix overlaps a subscriber attachment: a
        subscriber's own address range must never be treated as an ISP relay
        (and vice versa), or blocking silently stops applying to it.
        """
        check_text("name", name, 64, NAME_RE)
        network = parse_prefix(prefix)
        if network.prefixlen == 0:
            raise ValidationError("prefix", prefix, "a /0 MTA would let TCP/25 go anywhere")
        canonical = str(network)
        with self._write() as session:
            if session.scalar(sa.select(Mta.id).where(Mta.name == name)):
                raise Conflict("name", name, "an MTA with this name already exists")
            for other_name, other_prefix in session.execute(sa.select(Mta.name, Mta.prefix)):
                if other_prefix == canonical:
                    raise Conflict("prefix", prefix, f"already registered as MTA '{other_name}'")
            clash = _attachment_overlapping(session, network)
            if clash is not None:
                raise Conflict(
                    "prefix",
                    prefix,
                    f"overlaps attachment prefix {clash[1]} of account '{clash[0]}'",
                )
            mta = Mta(name=name, prefix=canonical)
            session.add(mta)
            session.flush()
            view = mta_view(mta)
            self._audit(session).record("mta", name, "add", None, mta_state(name, canonical))
        log.info("MTA %s (%s) added", name, canonical)
        return view

    def list_mtas(self) -> list[MtaView]:
        """All MTAs, by name."""
        with self._read() as session:
            rows = session.scalars(sa.select(Mta).order_by(Mta.name))
            return [mta_view(m) for m in rows]

    def remove_mta(self, name: str) -> MtaView:
        """Forget an MTA; mail to it is blocked from broadband again."""
        with self._write() as session:
            mta = session.scalar(sa.select(Mta).where(Mta.name == name))
            if mta is None:
                raise NotFound("MTA", "name", name)
            view = mta_view(mta)
            self._audit(session).record(
                "mta", name, "remove", mta_state(mta.name, mta.prefix), None
            )
            session.delete(mta)
        log.info("MTA %s removed", name)
        return view


def _overlaps(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return bool(a.version == b.version and a.first <= b.last and b.first <= a.last)


def _attachment_overlapping(session: Session, network: netaddr.IPNetwork) -> tuple[str, str] | None:
    """The (account, prefix) of some attachment overlapping ``network``, if any.

    A linear scan: adding an MTA is rare, and portable SQL has no prefix type.
    """
    want_v6 = network.version == 6
    rows = session.execute(
        sa.select(Subscriber.account, Attachment.prefix)
        .join(Attachment, Attachment.subscriber_id == Subscriber.id)
        .where(Attachment.prefix.is_not(None))
    )
    for account, prefix in rows:
        if prefix is None or (":" in prefix) != want_v6:
            continue
        try:
            other = netaddr.IPNetwork(prefix)
        except (netaddr.AddrFormatError, ValueError):
            continue  # malformed rows are the snapshot loader's to report
        if _overlaps(network, other):
            return account, prefix
    return None
