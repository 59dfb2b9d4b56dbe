"""The ISP's own mail relays (MTAs): the destinations TCP/25 may always reach.

OP25B blocks port 25 to the internet, not to the ISP's relays, so each MTA
prefix becomes a pass rule for every subscriber. Why the checks:

* An MTA prefix and a subscriber's own prefix must never overlap: the
  subscriber's range would be treated as a relay and silently stop being
  blocked.
* One MTA may have several prefixes (a relay's IPv4 and IPv6 addresses);
  each is a row with the MTA's name (migration 0009). A prefix belongs to
  one MTA only, and a prefix given twice is a typo, never silently merged.
* A prefix wider than ``core.limits`` (/24 IPv4, /48 IPv6) opens port 25 to a
  whole block of the Internet ("0.0.0.0/1" is half of it). It is refused
  unless the caller says so explicitly (``allow_wide``, ``--wide``); the audit
  entry then carries ``wide``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.core.limits import (
    MAX_MTA_PREFIXES,
    MAX_NAME_CHARS,
    MTA_WIDE_IPV4_PREFIXLEN,
    MTA_WIDE_IPV6_PREFIXLEN,
)
from op25b_app.core.prefixes import plain_prefix
from op25b_app.db.models import Attachment, Mta, Subscriber
from op25b_app.service.audit_states import mta_state
from op25b_app.service.errors import Conflict, NotFound, ValidationError
from op25b_app.service.inputs import parse_prefix
from op25b_app.service.rules import MtaIndex
from op25b_app.service.texts import NAME_RE, check_lookup, check_text
from op25b_app.service.transactions import ServiceBase
from op25b_app.service.views import MtaView, mta_view

log = logging.getLogger(__name__)


class MtaOps(ServiceBase):
    """Mixed into ``PolicyService``: registering, listing and removing MTAs."""

    def create_mta(
        self, name: str, prefixes: Sequence[str], *, allow_wide: bool = False
    ) -> list[MtaView]:
        """Register one of the ISP's relays with all its prefixes; TCP/25 to them passes.

        Returns one view per prefix. Refused when a prefix overlaps a
        subscriber attachment or another MTA's prefix, or is wider than the
        limit without ``allow_wide``.
        """
        check_text("name", name, MAX_NAME_CHARS, NAME_RE)
        networks = _checked_prefixes(prefixes, allow_wide)
        texts = [str(n) for n in networks]
        wide = any(_is_wide(n) for n in networks)
        with self._write() as session:
            if session.scalar(sa.select(Mta.id).where(Mta.name == name).limit(1)):
                raise Conflict("name", name, "an MTA with this name already exists")
            owners: dict[str, str] = dict(session.execute(sa.select(Mta.prefix, Mta.name)).all())
            for given, text in zip(prefixes, texts, strict=True):
                if text in owners:
                    raise Conflict("prefix", given, f"already registered as MTA '{owners[text]}'")
            clash = _attachment_overlapping(session, MtaIndex([(name, t) for t in texts]))
            if clash is not None:
                given = prefixes[texts.index(clash[2])]
                raise Conflict("prefix", given, f"overlaps attachment prefix {clash[1]} "
                                                f"of account '{clash[0]}'")
            rows = [Mta(name=name, prefix=text) for text in texts]
            session.add_all(rows)
            session.flush()
            views = [mta_view(row) for row in rows]
            self._audit(session).record("mta", name, "add", None, mta_state(name, texts, wide))
        if wide:
            log.warning("MTA %s added with a wide prefix (%s): TCP/25 passes to all of it",
                        name, ", ".join(texts))
        else:
            log.info("MTA %s (%s) added", name, ", ".join(texts))
        return views

    def add_mta(self, name: str, prefix: str, *, allow_wide: bool = False) -> MtaView:
        """``create_mta`` with one prefix (the form the REST API uses); its view."""
        return self.create_mta(name, [prefix], allow_wide=allow_wide)[0]

    def list_mtas(self) -> list[MtaView]:
        """Every MTA prefix, by name then prefix: an MTA with two prefixes is two views."""
        with self._read() as session:
            rows = session.scalars(sa.select(Mta).order_by(Mta.name, Mta.prefix, Mta.id))
            return [mta_view(m) for m in rows]

    def delete_mta(self, name: str) -> list[MtaView]:
        """Forget an MTA with all its prefixes; mail to them is blocked from broadband again."""
        check_lookup("MTA", "name", name)
        with self._write() as session:
            rows = list(session.scalars(sa.select(Mta).where(Mta.name == name).order_by(Mta.id)))
            if not rows:
                raise NotFound("MTA", "name", name)
            views = [mta_view(row) for row in rows]
            self._audit(session).record(
                "mta", name, "remove", mta_state(name, [v.prefix for v in views]), None
            )
            for row in rows:
                session.delete(row)
        log.info("MTA %s removed", name)
        return views

    def remove_mta(self, name: str) -> MtaView:
        """``delete_mta`` returning the view of its first prefix (the REST API's form)."""
        return self.delete_mta(name)[0]


def _checked_prefixes(prefixes: Sequence[str], allow_wide: bool) -> list[netaddr.IPNetwork]:
    """The prefixes parsed, each once, none /0, none wide unless allowed."""
    if isinstance(prefixes, str) or not prefixes:
        raise ValidationError("prefix", "" if not prefixes else prefixes,
                              "give the MTA's prefixes as a list of at least one")
    if len(prefixes) > MAX_MTA_PREFIXES:
        raise ValidationError("prefix", f"{len(prefixes)} prefixes",
                              f"an MTA has at most {MAX_MTA_PREFIXES} prefixes")
    networks: list[netaddr.IPNetwork] = []
    for given in prefixes:
        network = parse_prefix(given)
        if network.prefixlen == 0:
            raise ValidationError("prefix", given, "a /0 MTA would let TCP/25 go anywhere")
        if _is_wide(network) and not allow_wide:
            limit = MTA_WIDE_IPV4_PREFIXLEN if network.version == 4 else MTA_WIDE_IPV6_PREFIXLEN
            raise ValidationError("prefix", given, f"wider than /{limit}: TCP/25 would pass to "
                                  f"{network.size:,} addresses; give --wide (API: allow_wide) "
                                  "if that is meant")
        if network in networks:
            raise ValidationError("prefix", given, "listed twice")
        networks.append(network)
    return networks


def _is_wide(network: netaddr.IPNetwork) -> bool:
    limit = MTA_WIDE_IPV4_PREFIXLEN if network.version == 4 else MTA_WIDE_IPV6_PREFIXLEN
    return bool(network.prefixlen < limit)


def _attachment_overlapping(session: Session, new: MtaIndex) -> tuple[str, str, str] | None:
    """(account, attachment prefix, MTA prefix) of some attachment overlapping a new MTA prefix.

    One pass over the attachments with prefixes, each looked up in an index
    of the new prefixes: adding an MTA is rare, and portable SQL has no
    prefix type, but an MTA's 64 prefixes must not mean 64 passes.
    """
    rows = session.execute(
        sa.select(Subscriber.account, Attachment.prefix)
        .join(Attachment, Attachment.subscriber_id == Subscriber.id)
        .where(Attachment.prefix.is_not(None))
    )
    for account, prefix in rows:
        fast = plain_prefix(prefix) if isinstance(prefix, str) else None
        try:
            other = fast[0] if fast is not None else netaddr.IPNetwork(prefix).cidr
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue  # malformed rows are the snapshot loader's to report
        hit = new.overlapping(other)
        if hit is not None:
            return account, str(prefix), hit[1]
    return None
