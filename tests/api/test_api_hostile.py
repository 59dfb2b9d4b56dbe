"""Hostile input over real HTTP: accounts with '/', no-op PATCHes, HEAD, odd request lines.

Every refusal must be a 4xx with the usual ``{error, field, value}`` body,
never a 5xx, and every error body is bounded whatever the request held.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from op25b_app.db.engine import make_engine
from op25b_app.service import PolicyService
from tests.api.conftest import READ_TOKEN, ApiProcess
from tests.api.test_api_http import add_switch, assert_error, new_dpid

#: An error body: the bounded message, field and value, and the JSON around them.
MAX_ERROR_BODY = 1500


def audit_count(api: ApiProcess, account: str) -> int:
    engine = make_engine(api.db_url)
    try:
        return len(PolicyService(engine).audit_log(account=account))
    finally:
        engine.dispose()


def revision(client: httpx.Client) -> int:
    value: int = client.get("/status").json()["policy_revision"]
    return value


# --------------------------------------------------------------------------- bounded echo


def test_error_bodies_are_bounded(client: httpx.Client) -> None:
    # As large as the test API's 8 kB body limit allows (tests/api/test_api_bounds.py
    # does the megabyte in-process).
    name = "n" * 8000
    response = client.post("/subscribers", json={"account": "B-1", "name": name,
                                                  "type": "broadband"})
    body = assert_error(response, 400, "name")
    assert len(response.content) < MAX_ERROR_BODY
    assert body["value"].endswith("...") and body["error"].endswith("longer than 200 characters")
    # A 404 echoes the path parameter; a path can be as long as the server takes.
    account = "y" * 20_000
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/subscribers/{account}")
        body = assert_error(response, 404, "account")
        assert len(response.content) < MAX_ERROR_BODY and body["value"].endswith("...")
    response = client.delete(f"/subscribers/{account}/attachments/1")
    assert_error(response, 404)
    assert len(response.content) < MAX_ERROR_BODY
    response = client.post("/mtas", json={"name": "m", "prefix": "192.0.2.1", "k" * 7000: 1})
    body = assert_error(response, 400)
    assert len(response.content) < MAX_ERROR_BODY and body["field"].endswith("...")


# --------------------------------------------------------------------------- accounts with '/'


@pytest.mark.parametrize("shape", ["TKY/{}", "{}/attachments", "a%2F{}", "{}/", "50%/{}"])
def test_accounts_with_slash_are_reachable(client: httpx.Client, shape: str) -> None:
    dpid = new_dpid()
    add_switch(client, dpid)
    account = shape.format(uuid.uuid4().hex[:8])
    path = "/subscribers/" + account.replace("%", "%25").replace("/", "%2F")
    created = client.post("/subscribers", json={"account": account, "type": "broadband"})
    assert created.status_code == 201, created.text
    assert client.get(path).json() == created.json()
    listed = client.get("/subscribers", params={"account_prefix": account}).json()
    assert [s["account"] for s in listed["items"]] == [account]
    patched = client.patch(path, json={"name": "Slash"})
    assert patched.status_code == 200 and patched.json()["account"] == account
    body = client.post(f"{path}/attachments",
                       json={"attachments": [{"dpid": dpid, "port": 4}]}).json()
    (attachment,) = body["attachments"]
    response = client.delete(f"{path}/attachments/{attachment['id']}")
    assert response.status_code == 200 and response.json()["attachments"] == []
    deleted = client.delete(path)
    assert deleted.status_code == 200 and deleted.json()["account"] == account
    assert_error(client.get(path), 404, "account", account)


def test_a_literal_slash_still_separates_segments(client: httpx.Client) -> None:
    account = f"SEP/{uuid.uuid4().hex[:8]}"
    assert client.post("/subscribers", json={"account": account,
                                             "type": "broadband"}).status_code == 201
    # Unencoded, the slash is a separator: no such route.
    assert_error(client.get(f"/subscribers/{account}"), 404)
    # An encoded slash is data everywhere, also outside a parameter.
    assert_error(client.get("/subscribers%2Fx"), 404)
    assert client.delete(f"/subscribers/{account.replace('/', '%2F')}").status_code == 200


def test_other_path_parameters_are_decoded_alike(client: httpx.Client) -> None:
    # Names cannot hold '/' or '%' (the service's rule), but lookups decode them
    # the same way, and the 404 names what the client meant.
    assert_error(client.get("/mtas/relay%2Fx"), 404, "name", "relay/x")
    assert_error(client.get("/mtas/a%25b"), 404, "name", "a%b")
    assert_error(client.get("/mtas/a%252Fb"), 404, "name", "a%2Fb")
    assert_error(client.get("/connection-types/x%2Fy"), 404, "name", "x/y")
    assert_error(client.get("/switches/1%2F2"), 400, "dpid", "1/2")


# --------------------------------------------------------------------------- PATCH with no change


def test_patch_that_changes_nothing_writes_nothing(api: ApiProcess,
                                                   client: httpx.Client) -> None:
    account = f"NOOP-{uuid.uuid4().hex[:8]}"
    created = client.post("/subscribers", json={"account": account, "name": "Taro",
                                                "type": "broadband"}).json()
    client.patch(f"/subscribers/{account}", json={
        "exemption": {"reason": "own MTA", "until": "2099-01-01T00:00:00+09:00"}})
    current = client.get(f"/subscribers/{account}").json()
    audits, before = audit_count(api, account), revision(client)
    assert audits == 2
    for body in ({}, {"name": None}, {"name": None, "type": None}, {"name": "Taro"},
                 {"type": "broadband", "name": "Taro"},
                 {"exemption": {"reason": "own MTA", "until": "2098-12-31T15:00:00Z"}}):
        response = client.patch(f"/subscribers/{account}", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == current, body
    assert audit_count(api, account) == audits
    assert revision(client) == before
    assert current["updated_at"] == client.get(f"/subscribers/{account}").json()["updated_at"]
    # A PATCH that does change something still writes, once.
    assert client.patch(f"/subscribers/{account}", json={"name": "Jiro"}).status_code == 200
    assert audit_count(api, account) == audits + 1
    # Ending an opt-out that does not exist is no change either.
    assert client.patch(f"/subscribers/{account}", json={"exemption": None}).status_code == 200
    assert client.patch(f"/subscribers/{account}", json={"exemption": None}).status_code == 200
    assert audit_count(api, account) == audits + 2
    assert created["account"] == account
    # No change for an unknown account is still 404, and bad input still 400.
    assert_error(client.patch("/subscribers/no-such-account", json={}), 404, "account")
    assert_error(client.patch(f"/subscribers/{account}", json={"type": "nope"}), 400, "type")
    # A time whose UTC is past year 9999 is bad input, not a crash.
    assert_error(client.patch(f"/subscribers/{account}", json={"exemption": {
        "reason": "x", "until": "9999-12-31T23:59:59-14:00"}}), 400, "until")


# --------------------------------------------------------------------------- HEAD


@pytest.mark.parametrize("path", ["/status", "/subscribers", "/switches?limit=1",
                                  "/connection-types/broadband", "/openapi.json"])
def test_head_answers_like_get_without_a_body(client: httpx.Client, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]


def test_head_errors_keep_their_status(api: ApiProcess, client: httpx.Client) -> None:
    assert client.head("/subscribers/no-such-account").status_code == 404
    assert client.head("/no/such/path").status_code == 404
    not_allowed = client.head("/subscribers/x/attachments")
    assert not_allowed.status_code == 405 and not_allowed.content == b""
    with api.client(token=None) as anonymous:
        assert anonymous.head("/status").status_code == 401
    with api.client(READ_TOKEN) as reader:
        assert reader.head("/status").status_code == 200


# --------------------------------------------------------------------------- request lines


@pytest.mark.parametrize(("method", "target", "field"), [
    ("GET", "/subscribers/a%00b", "account"),
    ("GET", "/mtas/%00", "name"),
    ("GET", "/switches/%00", "dpid"),
    ("GET", "/subscribers/a%ffb", "path"),
    ("DELETE", "/mtas/%c3%28", "path"),
    ("GET", "/subscribers/%ed%a0%80", "path"),
    ("GET", "/subscribers?account_prefix=%ff", "query"),
    ("GET", "/subscribers?limit=1&limit=1000", "limit"),
    ("GET", "/subscribers?type=broadband&type=dialup", "type"),
    ("GET", "/switches/1/policy?at=%00", "at"),
    ("GET", "/switches/1/policy?at=now&at=later", "at"),
    ("GET", "/switches/1/policy?at=0001-01-01T00:00:00%2B14:00", "at"),
    ("GET", "/switches/1/policy?at=9999-12-31T23:59:59-14:00", "at"),
])
def test_odd_request_lines_are_400(client: httpx.Client, method: str, target: str,
                                   field: str) -> None:
    assert_error(client.request(method, target), 400, field)


def test_two_authorization_headers_are_400(api: ApiProcess) -> None:
    with api.client(token=None) as client:
        for second in (READ_TOKEN, "not-a-token"):
            headers = [("Authorization", f"Bearer {READ_TOKEN}"),
                       ("Authorization", f"Bearer {second}")]
            assert_error(client.get("/status", headers=headers), 400, "Authorization")


@pytest.mark.parametrize("content", [
    b'{"dpid": 1e999, "name": "s"}',
    b'{"dpid": NaN, "name": "s"}',
    b'{"dpid": 1' + b"0" * 5000 + b', "name": "s"}',
    b'{"dpid": "\\ud800", "name": "s"}',
    b'{"dpid": 1, "name": "\\ud800"}',
    b'{"dpid": 1, "name": "\xff"}',
    b"[" * 4000 + b"]" * 4000,
    b'{"dpid": 1, "name": "s", "uplinks": ' + b"[" * 900 + b"]" * 900 + b"}",
])
def test_hostile_json_is_400(client: httpx.Client, content: bytes) -> None:
    response = client.post("/switches", content=content,
                           headers={"Content-Type": "application/json"})
    body: dict[str, Any] = assert_error(response, 400)
    assert len(response.content) < MAX_ERROR_BODY, body
