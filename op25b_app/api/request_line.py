"""The request line - method and target - checked and made unambiguous before routing.

**Path segments are decoded one by one.** The HTTP server hands over the
path already percent-decoded, so ``/subscribers/a%2Fb`` arrives as
``/subscribers/a/b``: an account holding ``/`` (legal in the service, the
CLI and CSV import) could be created by ``POST /subscribers`` but never
reached again. A ``{account:path}`` converter would not help: is
``/subscribers/x/attachments/5`` account ``x/attachments/5`` or attachment 5
of ``x``? So ``RequestLineMiddleware`` rebuilds the routing path from the raw
bytes: a literal ``/`` separates segments, an encoded ``%2F`` is data. Inside
each decoded segment ``%`` and ``/`` are written back as ``%25`` and ``%2F``
(so no segment holds a ``/``, and the escaping is reversible), and routes
read their text parameters through ``path_value``, which undoes exactly those
two escapes.

**Text must be UTF-8.** A segment or query parameter whose percent-escapes
are not UTF-8 (``%ff``) used to become U+FFFD and reach the service as a
different name; it is now a 400 naming ``path`` or ``query``.

**A query parameter is given once.** ``?limit=1&limit=1000`` used to mean
whichever the framework kept (the last); an ambiguous request is refused.

**HEAD is GET without a body** (``HeadAsGetMiddleware``): FastAPI routes
answer only the methods they declare, so HEAD got 405. It is answered here,
in front of the routes, so the OpenAPI document (the contract) lists each GET
once, as before; scope checks treat HEAD as a read.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from op25b_app.api.errors import error_response

_ESCAPED = re.compile("%2F|%25")


def path_value(text: str) -> str:
    """A path parameter as the client meant it: ``%2F`` is ``/`` and ``%25`` is ``%``.

    Undoes the two escapes ``routing_path`` writes into decoded segments,
    in one pass so that an escaped ``%`` followed by ``2F`` stays text.
    """
    return _ESCAPED.sub(lambda match: "/" if match.group() == "%2F" else "%", text)


class TargetError(ValueError):
    """A request target the API refuses: which part, what was sent, why."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.value = value


def routing_path(raw_path: bytes) -> str:
    """The path routes match against: segments decoded, ``%`` and ``/`` in them escaped."""
    segments = []
    for index, raw in enumerate(raw_path.split(b"/")):
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise TargetError(
                "path", raw_path.decode("latin-1"),
                f"path segment {index} is not UTF-8 text after percent-decoding",
            ) from None
        segments.append(text.replace("%", "%25").replace("/", "%2F"))
    return "/".join(segments)


def check_query(query: bytes) -> None:
    """Refuse a query string that is not UTF-8 or names a parameter twice."""
    seen: dict[str, str] = {}
    for part in query.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name, value = _query_text(raw_name, part), _query_text(raw_value, part)
        if name in seen:
            raise TargetError(name, value, f"query parameter '{name}' is given more than "
                              "once; give it once")
        seen[name] = value


def _query_text(raw: bytes, part: bytes) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise TargetError("query", part.decode("latin-1"),
                          "query parameter is not UTF-8 text after percent-decoding") from None


class RequestLineMiddleware:
    """400 for a target that is not UTF-8 or repeats a query parameter; routes on raw segments."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # ASGI servers should provide raw_path; without it the decoded path is
        # all there is (an encoded slash is then a separator, as before).
        raw = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        try:
            path = routing_path(raw.partition(b"?")[0])
            check_query(scope.get("query_string", b""))
        except TargetError as error:
            response = error_response(400, str(error), error.field, error.value)
            await response(scope, receive, send)
            return
        await self.app({**scope, "path": path}, receive, send)


class HeadAsGetMiddleware:
    """HEAD runs the GET route; the headers (Content-Length included) go out, the body not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server keeps its own scope saying HEAD, and sends no body either.
        await self.app({**scope, "method": "GET"}, receive, send_without_body)
