"""Controller-channel TLS: one server context, and which switch a certificate names.

Ryu 4.34 builds its TLS settings once and *pops* them on the first accepted
connection, so every later switch (and every reconnect) fails its handshake.
op25b builds one ``ssl.SSLContext`` at start-up instead (a bad file stops the
controller at once, not at the first switch) and wraps every connection with
it (``openflow.listener``).

A certificate signed by the CA proves only that *some* switch of ours is
talking; without more, any switch could claim another's datapath id and take
over its session. So a switch certificate names the datapath ids it may
claim: a ``dpid:`` token followed by exactly 16 hex digits, as a
whitespace-separated word of the subject CN or of a DNS/URI subjectAltName
(``scripts/pki`` writes CN ``dpid:0000000000000001``; ``ovs-pki req+sign
dpid:0000000000000001 switch`` writes CN ``dpid:0000000000000001 id:UUID``,
which matches too). Only the standard library here: no Ryu import, unit-testable.
"""

from __future__ import annotations

import dataclasses
import re
import ssl
from collections.abc import Iterable
from typing import Any

#: A datapath id as a certificate names it (16 hex digits, any case).
_DPID_TOKEN = re.compile(r"^dpid:([0-9a-fA-F]{16})$")
#: subjectAltName kinds searched for dpid tokens.
_SAN_KINDS = ("DNS", "URI")


class TlsConfigError(ValueError):
    """The TLS options are incomplete or name a file that does not load."""


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """The controller's key and certificate, and the CA its switches' certificates come from."""

    privkey: str
    cert: str
    ca_certs: str | None = None

    @classmethod
    def from_options(cls, privkey: str | None, cert: str | None,
                     ca_certs: str | None) -> TlsFiles | None:
        """The TLS files Ryu's ``--ctl-privkey/--ctl-cert/--ca-certs`` name, None for plain TCP.

        Ryu silently serves plain TCP when only one of key and certificate is
        given (and ignores a lone CA): an operator who meant TLS would get an
        unencrypted channel without noticing, so half a configuration is refused.
        """
        if privkey is None and cert is None and ca_certs is None:
            return None
        if not privkey or not cert:
            raise TlsConfigError("controller TLS needs both --ctl-privkey and --ctl-cert "
                                 "(--ca-certs alone does not enable it)")
        return cls(privkey=privkey, cert=cert, ca_certs=ca_certs or None)


def _readable(path: str, what: str) -> None:
    # ssl reports a missing file as a bare "[Errno 2]"; say which option named it.
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise TlsConfigError(f"{what} {path}: {error.strerror or error}") from error


def build_server_context(files: TlsFiles) -> ssl.SSLContext:
    """One server context for every switch connection: TLS 1.2 or later.

    With a CA, a switch must present a certificate it signed (CERT_REQUIRED);
    without one, the channel is encrypted but any switch may connect. The
    chain is loaded here, once, so a wrong key or certificate is an error at
    start-up. ``ssl.SSLContext`` is looked up at call time: under eventlet's
    monkey patching it is the green context, whose sockets do not block the hub.
    """
    _readable(files.privkey, "--ctl-privkey")
    _readable(files.cert, "--ctl-cert")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.privkey)
    except ssl.SSLError as error:
        raise TlsConfigError(f"--ctl-cert {files.cert} / --ctl-privkey {files.privkey} "
                             f"do not load: {error}") from error
    if files.ca_certs:
        _readable(files.ca_certs, "--ca-certs")
        try:
            context.load_verify_locations(cafile=files.ca_certs)
        except ssl.SSLError as error:
            raise TlsConfigError(f"--ca-certs {files.ca_certs} does not load: {error}") from error
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _subject_common_names(peercert: dict[str, Any]) -> Iterable[str]:
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                yield value


def _san_values(peercert: dict[str, Any]) -> Iterable[str]:
    for kind, value in peercert.get("subjectAltName", ()):
        if kind in _SAN_KINDS:
            yield value


def certificate_dpids(peercert: dict[str, Any] | None) -> frozenset[int]:
    """The datapath ids a verified peer certificate (``getpeercert()``) names."""
    if not peercert:
        return frozenset()
    found = set()
    for text in (*_subject_common_names(peercert), *_san_values(peercert)):
        for word in text.split():
            match = _DPID_TOKEN.match(word)
            if match:
                found.add(int(match.group(1), 16))
    return frozenset(found)


def describe_subject(peercert: dict[str, Any] | None) -> str:
    """The certificate subject as one line for a log (``CN=...,O=...``)."""
    if not peercert:
        return "(no certificate)"
    parts = [f"{key}={value}" for rdn in peercert.get("subject", ()) for key, value in rdn]
    return ",".join(parts) or "(empty subject)"


def identity_refusal(peercert: dict[str, Any] | None, dpid: int) -> str | None:
    """Why a switch with this certificate may not be datapath ``dpid``; None if it may."""
    named = certificate_dpids(peercert)
    if not named:
        return "the certificate names no datapath id (want a 'dpid:' + 16 hex digits CN)"
    if dpid not in named:
        listed = ", ".join(f"{d:016x}" for d in sorted(named))
        return f"the certificate is for datapath {listed}"
    return None


__all__ = [
    "TlsConfigError",
    "TlsFiles",
    "build_server_context",
    "certificate_dpids",
    "describe_subject",
    "identity_refusal",
]
