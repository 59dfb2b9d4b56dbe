"""The maximum request body size, enforced before anything parses the body.

A ``Content-Length`` above the limit is refused from the headers alone. A
chunked body (no ``Content-Length``) is counted as it streams in and refused
as soon as it passes the limit, so memory use is bounded by the limit either
way. The whole (small) body is buffered here and replayed to the
application, which then never sees more than the limit.

After deciding on 413 the rest of a moderately oversized body is read and
discarded (up to ``max_bytes`` more): a client still sending when the server
answers and closes would otherwise see a connection reset instead of the
413. Anything larger is cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from op25b_app.api.echo import echo_text
from op25b_app.api.errors import error_response

log = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    """413 for a request body larger than ``max_bytes()``.

    The limit is asked for once per request, so a configuration reload
    (SIGHUP) applies to the next request.
    """

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.limit = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _LimitedRequest(self.app, self.limit()).run(scope, receive, send)


class _LimitedRequest:
    """One request read against one limit (the limit in force when it arrived)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request with 413 if its body is too large, else pass it on whole."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= 2 * self.max_bytes:
                await self._drain(receive, 0)
            await self._refuse(scope, receive, send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client gave up; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > self.max_bytes:
                if more:
                    await self._drain(receive, size)
                await self._refuse(scope, receive, send, size)
                return
            chunks.append(chunk)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _drain(self, receive: Receive, already: int) -> None:
        size = already
        while size <= 2 * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        log.warning("%s %s: 413 body of %s bytes or more, limit %d", scope["method"],
                    echo_text(scope["path"]), size, self.max_bytes)
        response = error_response(413, f"request body larger than {self.max_bytes} bytes",
                                  "body", headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses these before we get here
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that first returns the buffered body, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
