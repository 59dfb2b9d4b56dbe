"""Bearer tokens: who is calling, and may they write.

This is an ASGI middleware rather than a FastAPI dependency on purpose:
FastAPI reads and parses a request body *before* it runs dependencies, so an
unauthenticated caller could make the API buffer and parse JSON (and get a
400 that tells it about the schema). Here the token is checked first and an
unknown caller never gets past the headers.

Scope follows the HTTP method: GET/HEAD/OPTIONS read, everything else writes.
A token past its ``expires`` time is refused like an unknown one (401), and
the first refusal is logged; the tokens come from ``LiveConfig`` on each
request, so a SIGHUP reload applies at once.
The matched token's name is put into the ASGI scope under ``TOKEN_SCOPE_KEY``
so the routes can record it as the actor of a change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from op25b_app.api.config import TokenEntry
from op25b_app.api.echo import echo_text
from op25b_app.api.errors import error_response
from op25b_app.api.live_config import LiveConfig

log = logging.getLogger(__name__)

#: Where the authenticated ``TokenEntry`` is stored in the ASGI scope.
TOKEN_SCOPE_KEY = "op25b.token"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REALM = 'Bearer realm="op25b"'


def find_token(presented: bytes, tokens: Sequence[TokenEntry]) -> TokenEntry | None:
    """The configured token whose hash equals that of ``presented``, or None.

    ``presented`` is the token's bytes exactly as they came in the header:
    the config stores the SHA-256 of the bytes ``hash-token`` hashed (visible
    ASCII, so the same bytes). Decoding the header one way and encoding it
    another - as this once did, Latin-1 in and UTF-8 out - changes every
    non-ASCII byte and no such token could ever match.

    Every configured hash is compared with ``hmac.compare_digest`` and the
    loop never stops early, so the response time says nothing about how
    many leading bytes matched or which entry did.
    """
    digest = hashlib.sha256(presented).digest()
    found: TokenEntry | None = None
    for entry in tokens:
        if hmac.compare_digest(digest, entry.sha256):
            found = entry
    return found


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


class TokenAuthMiddleware:
    """401 without a valid, unexpired bearer token; 403 when a read-only token tries to write.

    The tokens are read from ``live`` on every request, so a reload (SIGHUP)
    applies to the next request.
    """

    def __init__(self, app: ASGIApp, live: LiveConfig) -> None:
        self.app = app
        self.live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope, b"authorization")
        if len(headers) > 1:
            # Which one would count is up to each proxy and server on the way;
            # like a repeated query parameter, the ambiguity is refused.
            response = error_response(400, "the Authorization header is given more than "
                                      "once; give it once", "Authorization")
            await response(scope, receive, send)
            return
        presented = bearer_token(headers[0] if headers else None)
        entry = (None if presented is None
                 else find_token(presented.encode("latin-1"), self.live.config.tokens))
        if entry is None:
            reason = "missing bearer token" if presented is None else "unknown bearer token"
            log.warning("%s %s from %s: 401 %s", scope["method"], _path(scope),
                        _client(scope), reason)
            challenge = _REALM if presented is None else f'{_REALM}, error="invalid_token"'
            await _refuse(scope, receive, send, 401,
                          f"{reason}: send 'Authorization: Bearer <token>'", challenge)
            return
        if entry.expired(self.live.clock()):
            assert entry.expires is not None
            if self.live.first_refusal_of_expired(entry):
                log.warning("token %s expired at %s: refused from now on (logged once)",
                            entry.name, entry.expires.isoformat())
            await _refuse(scope, receive, send, 401,
                          f"expired bearer token (expired at {entry.expires.isoformat()})",
                          f'{_REALM}, error="invalid_token", '
                          'error_description="The access token expired"')
            return
        if scope["method"] not in READ_METHODS and not entry.can_write:
            log.warning("%s %s by token %s: 403 read-only token", scope["method"],
                        _path(scope), entry.name)
            await _refuse(scope, receive, send, 403,
                          f"token '{entry.name}' has scope '{entry.scope}'; "
                          f"{scope['method']} needs scope 'write'",
                          f'{_REALM}, error="insufficient_scope", scope="write"')
            return
        scope[TOKEN_SCOPE_KEY] = entry
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str,
                  challenge: str) -> None:
    """Answer 401/403 with the error body and the Bearer challenge (RFC 6750)."""
    response = error_response(status, message, "Authorization",
                              headers={"WWW-Authenticate": challenge})
    await response(scope, receive, send)


def _headers(scope: Scope, name: bytes) -> list[str]:
    """Every value of a request header, as text.

    Latin-1 maps each byte to one character, so ``encode("latin-1")`` gives
    the bytes back exactly (``find_token`` hashes those).
    """
    return [value.decode("latin-1") for key, value in scope.get("headers", ())
            if key.lower() == name]


def _path(scope: Scope) -> str:
    """The request path for a log line, cut (a client chooses its length)."""
    return echo_text(str(scope.get("path", "")))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"
