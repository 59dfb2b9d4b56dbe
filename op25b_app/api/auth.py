"""Bearer tokens: who is calling, and may they write.

This is an ASGI middleware rather than a FastAPI dependency on purpose:
FastAPI reads and parses a request body *before* it runs dependencies, so an
unauthenticated caller could make the API buffer and parse JSON (and get a
400 that tells it about the schema). Here the token is checked first and an
unknown caller never gets past the headers.

Scope follows the HTTP method: GET/HEAD/OPTIONS read, everything else writes.
The matched token's name is put into the ASGI scope under ``TOKEN_SCOPE_KEY``
so the routes can record it as the actor of a change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from op25b_app.api.config import TokenEntry

log = logging.getLogger(__name__)

#: Where the authenticated ``TokenEntry`` is stored in the ASGI scope.
TOKEN_SCOPE_KEY = "op25b.token"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REALM = 'Bearer realm="op25b"'


def find_token(presented: str, tokens: Sequence[TokenEntry]) -> TokenEntry | None:
    """The configured token whose hash equals ``presented``'s, or None.

    Every configured hash is compared with ``hmac.compare_digest`` and the
    loop never stops early, so the response time says nothing about how
    many leading bytes matched or which entry did.
    """
    digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
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
    """401 without a valid bearer token; 403 when a read-only token tries to write."""

    def __init__(self, app: ASGIApp, tokens: Sequence[TokenEntry]) -> None:
        self.app = app
        self.tokens = tuple(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        presented = bearer_token(header)
        entry = None if presented is None else find_token(presented, self.tokens)
        if entry is None:
            reason = "missing bearer token" if presented is None else "unknown bearer token"
            log.warning("%s %s from %s: 401 %s", scope["method"], scope["path"],
                        _client(scope), reason)
            challenge = _REALM if presented is None else f'{_REALM}, error="invalid_token"'
            response = JSONResponse(
                {"error": f"{reason}: send 'Authorization: Bearer <token>'",
                 "field": "Authorization", "value": None},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        if scope["method"] not in READ_METHODS and not entry.can_write:
            log.warning("%s %s by token %s: 403 read-only token", scope["method"],
                        scope["path"], entry.name)
            response = JSONResponse(
                {"error": f"token '{entry.name}' has scope '{entry.scope}'; "
                          f"{scope['method']} needs scope 'write'",
                 "field": "Authorization", "value": None},
                status_code=403,
                headers={"WWW-Authenticate":
                         f'{_REALM}, error="insufficient_scope", scope="write"'},
            )
            await response(scope, receive, send)
            return
        scope[TOKEN_SCOPE_KEY] = entry
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"
