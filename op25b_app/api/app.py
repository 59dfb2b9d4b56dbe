"""``create_app``: the API's application, put together from its parts.

Every write calls the service layer, which validates, takes the policy write
lock and commits in one transaction; the controller sees the change through
the revision trigger like any other write. Reads of status and compiled
policy go to the database too (through the service), never to a controller,
so the API answers while a controller restarts.

The operations themselves are the routers in ``routes`` (one per resource);
this module only adds them to an application with the error handlers, the
middleware and the OpenAPI adjustments (``document``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from op25b_app import __version__
from op25b_app.api.auth import TokenAuthMiddleware
from op25b_app.api.body_limit import BodySizeLimitMiddleware
from op25b_app.api.config import ApiConfig
from op25b_app.api.document import OPENAPI_PATH, build_openapi
from op25b_app.api.errors import install_error_handlers
from op25b_app.api.live_config import LiveConfig
from op25b_app.api.request_line import HeadAsGetMiddleware, RequestLineMiddleware
from op25b_app.api.routes import connection_types, mtas, ranges, status, subscribers, switches
from op25b_app.api.routes import sessions  # dynamic subscribers (radius)
from op25b_app.api.routes.common import ServiceFactory

#: The resource routers, in the order their operations are documented.
_ROUTERS = (switches.router, connection_types.router, subscribers.router, mtas.router,
            status.router, ranges.router,
            sessions.router)  # dynamic subscribers (radius)


def create_app(engine: Engine, config: ApiConfig | LiveConfig, *,
               clock: Callable[[], dt.datetime] | None = None,
               tz: dt.tzinfo | None = None) -> FastAPI:
    """The ASGI application for ``engine`` with ``config``'s tokens and limits.

    A ``LiveConfig`` is read on every request (``op25b api`` reloads it on
    SIGHUP); a plain ``ApiConfig`` is served as it is.

    ``clock`` is the service's notion of now (None: the current UTC time;
    tests pass a fixed one). ``tz`` is the zone of times given without a UTC
    offset (op25b's ``--tz``/$OP25B_TZ); None refuses such times, as the CLI
    does.
    """
    app = FastAPI(
        title="op25b",
        version=__version__,
        description=(
            "Management API of op25b (ISP Outbound Port 25 Blocking). Writes go through "
            "the same service layer as the op25b CLI; the controllers apply them to the "
            "switches. Every request needs 'Authorization: Bearer <token>'."
        ),
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    live = config if isinstance(config, LiveConfig) else LiveConfig(config)
    # The middleware added last runs first: the token is checked before
    # anything else, then the request line (path segments, query), then the
    # body is bounded before FastAPI parses it; HEAD becomes GET last.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=lambda: live.config.max_body_bytes)
    app.add_middleware(RequestLineMiddleware)
    app.add_middleware(TokenAuthMiddleware, live=live)
    ServiceFactory(engine, clock, tz).install(app)
    for router in _ROUTERS:
        app.include_router(router)
    return app
