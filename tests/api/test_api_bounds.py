"""Error bodies are bounded and always JSON, whatever the request held (in-process).

These requests are refused before the database is touched, so the app runs
in-process on an empty in-memory database with the default 1 MB body limit:
large enough for the megabyte-sized inputs a hostile client sends, which the
real-process tests (8 kB limit) cannot carry.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from op25b_app.api.app import create_app
from op25b_app.api.config import ApiConfig, TokenEntry, hash_token
from op25b_app.api.echo import (
    MAX_ECHO_CHARS,
    MAX_ERROR_CHARS,
    bounded_message,
    echo_text,
    echo_value,
)
from op25b_app.service import open_database

TOKEN = "bounds-" + "x1" * 20
#: What any error body may weigh at most: a cut message, field and value, and JSON.
MAX_BODY = MAX_ERROR_CHARS + 2 * MAX_ECHO_CHARS + 200


@pytest.fixture(scope="module")
def call() -> Iterator[Any]:
    """``call(method, path, **kwargs)`` against an in-process app; returns the response."""
    engine = open_database("sqlite://")
    entry = TokenEntry("bounds", "write", bytes.fromhex(hash_token(TOKEN)))
    app = create_app(engine, ApiConfig(tokens=(entry,)))

    def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                return await c.request(method, path, **kwargs)
        return asyncio.run(go())

    yield request
    engine.dispose()


def bounded_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The error body, checked to be small, of the usual shape and valid JSON."""
    assert response.status_code == status, response.text[:500]
    assert len(response.content) <= MAX_BODY, len(response.content)
    body: dict[str, Any] = json.loads(response.content.decode("utf-8"))
    assert set(body) == {"error", "field", "value"}
    return body


def test_a_megabyte_name_is_not_sent_back(call: Any) -> None:
    name = "n" * 1_000_000
    body = bounded_error(call("POST", "/subscribers",
                              json={"account": "BIG-1", "name": name, "type": "broadband"}))
    assert body["field"] == "name"
    assert body["value"] == "n" * MAX_ECHO_CHARS + "..."
    assert body["error"].endswith("longer than 200 characters")


def test_a_megabyte_key_or_path_is_not_sent_back(call: Any) -> None:
    body = bounded_error(call("POST", "/mtas", json={"name": "m", "prefix": "192.0.2.1",
                                                     "k" * 500_000: 1}))
    assert body["field"] == "k" * MAX_ECHO_CHARS + "..."
    body = bounded_error(call("POST", "/mtas", content=b"x=1",
                              headers={"Content-Type": "text/" + "p" * 50_000}))
    assert body["field"] == "Content-Type" and len(body["value"]) <= MAX_ECHO_CHARS + 3


def test_a_megabyte_list_is_previewed(call: Any) -> None:
    body = bounded_error(call("POST", "/switches",
                              json={"dpid": 1, "name": "s", "uplinks": ["x"] * 200_000}))
    assert body["field"] == "uplinks.0"
    body = bounded_error(call("POST", "/switches", json={"dpid": ["x"] * 200_000, "name": "s"}))
    assert isinstance(body["value"], str) and body["value"].endswith("...")


def test_deep_nesting_is_400_not_500(call: Any) -> None:
    # Too deep for the JSON parser itself.
    deep = b"[" * 200_000 + b"]" * 200_000
    body = bounded_error(call("POST", "/switches", content=deep,
                              headers={"Content-Type": "application/json"}))
    assert body["field"] == "body" and "nested too deeply" in body["error"]
    # Deep enough to parse, then echoed by the error handler: previewed, not recursed.
    nested = "[" * 900 + "]" * 900
    body = bounded_error(call("POST", "/switches", content=f'{{"dpid": {nested}, "name": "s"}}',
                              headers={"Content-Type": "application/json"}))
    assert body["field"] == "dpid" and body["value"].startswith("[[[[")


@pytest.mark.parametrize(("literal", "echoed"), [
    ("1e999", "inf"), ("-1e999", "-inf"), ("NaN", "nan"), ("Infinity", "inf"),
])
def test_numbers_json_cannot_carry_back_are_echoed_as_text(call: Any, literal: str,
                                                           echoed: str) -> None:
    body = bounded_error(call("POST", "/switches", content=f'{{"dpid": {literal}, "name": "s"}}',
                              headers={"Content-Type": "application/json"}))
    assert (body["field"], body["value"]) == ("dpid", echoed)


def test_huge_integer_literal_is_400(call: Any) -> None:
    body = bounded_error(call("POST", "/switches", content='{"dpid": 1' + "0" * 5000 + "}",
                              headers={"Content-Type": "application/json"}))
    assert body["field"] == "body" and "too many digits" in body["error"]
    body = bounded_error(call("POST", "/switches", json={"dpid": 10**4000, "name": "s"}))
    assert body["field"] == "dpid" and len(str(body["value"])) <= MAX_ECHO_CHARS


def test_lone_surrogates_and_bad_utf8_are_400(call: Any) -> None:
    for path, body_text in (("/subscribers", '{"account": "\\ud800", "type": "broadband"}'),
                            ("/switches", '{"dpid": "\\udfff", "name": "s"}'),
                            ("/subscribers", '{"account": "A", "type": "b", "k\\ud800": 1}')):
        body = bounded_error(call("POST", path, content=body_text,
                                  headers={"Content-Type": "application/json"}))
        assert "\\ud" in json.dumps(body)
    body = bounded_error(call("POST", "/switches", content=b'{"name": "\xff"}',
                              headers={"Content-Type": "application/json"}))
    assert body["field"] == "body" and "not UTF-8" in body["error"]


def test_echo_helpers() -> None:
    assert echo_value(math.inf) == "inf" and echo_value(None) is None
    assert echo_value(7) == 7 and echo_value(True) is True
    assert echo_value(2**2000) == "(an integer of 2001 bits)"
    assert echo_value({"a": [1, 2.5, None]}) == {"a": [1, 2.5, None]}
    assert echo_value({"a": math.nan}) == {"a": "nan"}
    assert echo_value(b"\xffab") == "\ufffdab"
    assert echo_value("a\ud800") == "a\\ud800"
    long_list = echo_value(list(range(10_000)))
    assert isinstance(long_list, str) and len(long_list) <= MAX_ECHO_CHARS + 3
    assert echo_text("f" * 1000) == "f" * MAX_ECHO_CHARS + "..."
    value = "v" * 5000
    message = bounded_message(f"field 'x' value '{value}': too long", value)
    assert message == f"field 'x' value '{'v' * MAX_ECHO_CHARS}...': too long"
    # Text embedded in another form (a kind naming the account) is cut in the middle.
    message = bounded_message("attachment of account '" + "a" * 5000 + "' with id '1' not found")
    assert len(message) <= MAX_ERROR_CHARS
    assert message.startswith("attachment of account") and message.endswith("not found")
