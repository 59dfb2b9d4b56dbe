"""``create_app``: the customer's page as a small ASGI application of its own.

It is deliberately not a set of routes on the REST API: the API is internal
and every request needs a token, this page is public and needs none, so they
listen on different addresses and share nothing but the service layer. The
page's process holds only a ``LineLookup`` (read-only), never a
``PolicyService``.

One page, ``GET /`` (and ``HEAD``): whose line is decided by the request's
source address (``client_address``), the language by ``?lang=`` or
``Accept-Language`` (``language``), the answer by the lookup, and every
answer first takes a token from the requester's bucket (``rate_limit``):
429 with a short page and ``Retry-After`` when it is empty. Any other path
is a short 404 page, without a lookup. Every response carries the security
headers and ``Cache-Control: no-store``: an answer is about one person's
line and must not be kept by a shared cache or the browser's history.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from op25b_app.customer.client_address import client_address
from op25b_app.customer.config import CustomerConfig
from op25b_app.customer.language import choose_language
from op25b_app.customer.rate_limit import RateLimiter
from op25b_app.customer.render import (
    CONTENT_SECURITY_POLICY,
    PageContext,
    answer_page,
    short_page,
)
from op25b_app.service import LineLookup, ServiceError

log = logging.getLogger(__name__)

#: Headers on every response (see the module docstring for why no caching).
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: HSTS is only meaningful (and only allowed by browsers) over HTTPS.
HSTS = "max-age=31536000"


def create_app(lookup: LineLookup, config: CustomerConfig, *, tz: dt.tzinfo | None = None,
               tls: bool = False, clock: Callable[[], dt.datetime] | None = None,
               limiter: RateLimiter | None = None) -> FastAPI:
    """The page's application.

    ``tz``: the zone times are shown in (default: the config's ``time_zone``,
    else UTC). ``clock`` is now (default: the current UTC time); ``limiter``
    replaces the configured rate limit (tests).
    """
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    zone = tz or config.time_zone or dt.UTC
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    bucket = limiter or RateLimiter(config.rate_limit, config.rate_window_seconds)
    headers = dict(SECURITY_HEADERS, **({"Strict-Transport-Security": HSTS} if tls else {}))

    def context(request: Request) -> PageContext:
        lang = choose_language(request.query_params.get("lang"),
                               request.headers.get("accept-language"), config.default_language)
        return PageContext(lang=lang, tz=zone, isp_name=config.isp_name,
                           relay_host=config.relay_host)

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def answer(request: Request) -> HTMLResponse:
        ctx = context(request)
        address = client_address(request.client.host if request.client else None,
                                 request.headers.getlist("x-forwarded-for"),
                                 config.trusted_proxies)
        if address is None:
            return _html(ctx, short_page(ctx, "no_address_title", "no_address"), 400)
        wait = bucket.check(address)
        if wait is not None:
            response = _html(ctx, short_page(ctx, "too_many_title", "too_many",
                                             seconds=str(wait)), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        at = now()
        try:
            verdict = lookup.line_verdict(str(address), at)
        except ServiceError as error:
            log.warning("customer page: no answer for a request: %s", error)
            return _html(ctx, short_page(ctx, "unavailable_title", "unavailable"), 503)
        return _html(ctx, answer_page(ctx, verdict, at), 200)

    @app.exception_handler(HTTPException)
    def other_paths(request: Request, exc: HTTPException) -> HTMLResponse:
        """404 for any other path, 405 for other methods: short pages, never JSON."""
        ctx = context(request)
        if exc.status_code == 405:
            response = _html(ctx, short_page(ctx, "not_allowed_title", "not_allowed"), 405)
            response.headers["Allow"] = "GET, HEAD"
            return response
        return _html(ctx, short_page(ctx, "not_found_title", "not_found"), exc.status_code)

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    return app


def _html(ctx: PageContext, body: str, status: int) -> HTMLResponse:
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Language"] = ctx.lang
    response.headers["Vary"] = "Accept-Language"
    return response
