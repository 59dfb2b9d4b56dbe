"""The service's errors map to one status each, whichever layer raised them.

In-process (no server): a route that raises the error is enough to check
the mapping, including errors the running API cannot be made to raise on
demand (the database going away, a driver error the service lets through).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import InterfaceError, OperationalError

from op25b_app.api.errors import install_error_handlers
from op25b_app.service import DatabaseUnavailable, StoredDataError


def _answer_to(error: Exception) -> tuple[int, Any]:
    """Status and body of a request whose route raises ``error``."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/boom")

    response = asyncio.run(get())
    return response.status_code, response.json()


@pytest.mark.parametrize("make", [
    lambda: DatabaseUnavailable("postgresql://op25b@db/op25b", "connection refused"),
    lambda: OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    lambda: InterfaceError("SELECT 1", {}, Exception("connection already closed")),
])
def test_database_unavailable_is_503(make: Callable[[], Exception]) -> None:
    assert _answer_to(make()) == (503, {"error": "database unavailable; retry later",
                                        "field": None, "value": None})


def test_stored_data_error_is_409_naming_field_and_value() -> None:
    error = StoredDataError("prefix", "192.0.2.1/24", "malformed stored data: not canonical")
    assert _answer_to(error) == (409, {"error": "malformed stored data: not canonical",
                                       "field": "prefix", "value": "192.0.2.1/24"})
