"""The REST API over real HTTP: auth, every error class, CRUD, paging, policy, status."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from op25b_app.api.openapi import render
from op25b_app.core.compile import compile_policy
from op25b_app.core.options import PolicyOptions
from op25b_app.db.engine import make_engine
from op25b_app.db.snapshot_loader import load_snapshot
from op25b_app.db.status import SwitchRow, read_status, write_controller, write_switches
from op25b_app.service import PolicyService, to_jsonable
from tests.api.conftest import (
    READ_TOKEN,
    REPO,
    TEST_MAX_BODY_BYTES,
    WRITE_TOKEN_NAME,
    ApiProcess,
)

JSON = {"Content-Type": "application/json"}


def unique(prefix: str) -> str:
    """A name no other test in the module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_dpid() -> int:
    """A dpid no other test in the module uses."""
    return int(uuid.uuid4().hex[:12], 16) + 0x100


def add_switch(client: httpx.Client, dpid: int, uplinks: list[int] | None = None) -> Any:
    response = client.post("/switches", json={"dpid": hex(dpid), "name": unique("sw"),
                                              "uplinks": uplinks or [1]})
    assert response.status_code == 201, response.text
    return response.json()


def add_subscriber(client: httpx.Client, dpid: int, port: int, *, account: str | None = None,
                   prefixes: list[str] | None = None, type_name: str = "broadband") -> Any:
    body = {"account": account or unique("BB"), "name": "Taro Yamada", "type": type_name,
            "attachments": [{"dpid": dpid, "port": port, "prefixes": prefixes or []}]}
    response = client.post("/subscribers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, field: str | None = None,
                 value: Any = ...) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "field", "value"}, body
    assert body["error"]
    if field is not None:
        assert body["field"] == field, body
    if value is not ...:
        assert body["value"] == value, body
    return body


@pytest.fixture
def reader(api: ApiProcess) -> Iterator[httpx.Client]:
    with api.client(READ_TOKEN) as c:
        yield c


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ["/switches", "/status", "/openapi.json"])
def test_missing_token_is_401_with_bearer_challenge(api: ApiProcess, path: str) -> None:
    with api.client(token=None) as anonymous:
        response = anonymous.get(path)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_401_and_nothing_written(api: ApiProcess, client: httpx.Client) -> None:
    before = client.get("/mtas").json()["total"]
    with api.client(token="not-a-configured-token") as stranger:
        response = stranger.post("/mtas", json={"name": unique("m"), "prefix": "192.0.2.99"})
    assert_error(response, 401)
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    with api.client(token=None) as basic:
        assert_error(basic.get("/mtas", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
    assert client.get("/mtas").json()["total"] == before


def test_read_token_reads_but_may_not_write(reader: httpx.Client, client: httpx.Client) -> None:
    assert reader.get("/switches").status_code == 200
    before = client.get("/mtas").json()["total"]
    for response in (
        reader.post("/mtas", json={"name": unique("m"), "prefix": "192.0.2.98"}),
        reader.delete("/mtas/anything"),
        reader.patch("/subscribers/anyone", json={"name": "x"}),
    ):
        assert_error(response, 403)
        assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert client.get("/mtas").json()["total"] == before


# --------------------------------------------------------------------------- errors


def test_service_validation_is_400_with_field_and_value(client: httpx.Client) -> None:
    before = client.get("/switches").json()["total"]
    assert_error(client.post("/switches", json={"dpid": "0xzz", "name": "edge-x"}),
                 400, "dpid", "0xzz")
    assert_error(client.post("/switches", json={"dpid": 7, "name": "bad name!"}),
                 400, "name", "bad name!")
    assert_error(client.post("/mtas", json={"name": unique("m"), "prefix": "10.0.0.1/33"}),
                 400, "prefix", "10.0.0.1/33")
    assert_error(client.get("/switches/0xnothex/policy"), 400, "dpid", "0xnothex")
    assert_error(client.get("/subscribers", params={"dpid": "zz"}), 400, "dpid", "zz")
    assert client.get("/switches").json()["total"] == before


def test_request_shape_errors_are_400_not_422(client: httpx.Client) -> None:
    # Wrong JSON type deep inside the body: the dotted path names it.
    dpid = new_dpid()
    add_switch(client, dpid)
    body = {"account": unique("BB"), "type": "broadband",
            "attachments": [{"dpid": dpid, "port": "7"}]}
    assert_error(client.post("/subscribers", json=body), 400, "attachments.0.port", "7")
    assert_error(client.post("/switches", json={"name": "x"}), 400, "dpid", None)
    assert_error(client.post("/switches", json={"dpid": 1, "name": "x", "colour": "red"}),
                 400, "colour", "red")
    assert_error(client.post("/switches", content=b'{"dpid": 1,', headers=JSON), 400, "body")
    assert_error(client.post("/switches", content=b"dpid=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 400, "Content-Type", "application/x-www-form-urlencoded")
    assert_error(client.post("/connection-types", json={"name": "fttx", "blocked": "yes"}),
                 400, "blocked", "yes")
    assert_error(client.get("/subscribers", params={"limit": 0}), 400, "limit", "0")
    assert_error(client.get("/subscribers", params={"offset": "many"}), 400, "offset", "many")
    # Paging and filters run in SQL: values SQL cannot take are refused first, not a 500.
    huge = str(2**91)
    assert_error(client.get("/subscribers", params={"offset": huge}), 400, "offset", huge)
    assert_error(client.get("/subscribers", params={"account_prefix": "A\x00"}),
                 400, "account_prefix", "A\x00")
    assert_error(client.get("/subscribers", params={"type": "\x00"}), 400, "type", "\x00")
    assert_error(client.delete("/subscribers/x/attachments/abc"), 400, "attachment_id", "abc")


def test_unknown_objects_are_404(client: httpx.Client) -> None:
    account = unique("nobody")
    assert_error(client.get(f"/subscribers/{account}"), 404, "account", account)
    assert_error(client.patch(f"/subscribers/{account}", json={"name": "x"}), 404, "account")
    assert_error(client.delete(f"/subscribers/{account}"), 404, "account")
    assert_error(client.get("/switches/0xfeedbeef"), 404, "dpid", "0xfeedbeef")
    assert_error(client.delete("/switches/0xfeedbeef"), 404, "dpid")
    assert_error(client.get("/mtas/no-such-relay"), 404, "name", "no-such-relay")
    assert_error(client.delete("/mtas/no-such-relay"), 404, "name")
    assert_error(client.get("/connection-types/nope"), 404, "name", "nope")
    assert_error(client.get("/no/such/path"), 404)


def test_duplicates_and_conflicts_are_409(client: httpx.Client) -> None:
    dpid = new_dpid()
    switch = add_switch(client, dpid)
    assert_error(client.post("/switches", json={"dpid": dpid, "name": unique("sw")}),
                 409, "dpid", dpid)
    assert_error(client.post("/switches", json={"dpid": new_dpid(), "name": switch["name"]}),
                 409, "name", switch["name"])
    subscriber = add_subscriber(client, dpid, 5, prefixes=["203.0.113.0/28"])
    assert_error(client.post("/subscribers", json={"account": subscriber["account"],
                                                   "type": "broadband"}),
                 409, "account", subscriber["account"])
    # An MTA inside a subscriber's prefix would silently exempt that subscriber.
    assert_error(client.post("/mtas", json={"name": unique("m"), "prefix": "203.0.113.5"}),
                 409, "prefix", "203.0.113.5")
    # A switch that still carries attachments cannot be removed.
    assert_error(client.delete(f"/switches/{dpid}"), 409, "dpid")
    assert_error(client.post("/connection-types", json={"name": "broadband", "blocked": True}),
                 409, "name", "broadband")


def test_oversized_body_is_413_declared_or_chunked(client: httpx.Client) -> None:
    before = client.get("/mtas").json()["total"]
    big = json.dumps({"name": "m" * (TEST_MAX_BODY_BYTES + 10), "prefix": "192.0.2.1"})
    assert_error(client.post("/mtas", content=big, headers=JSON), 413)

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the server must count while it reads.
        data = big.encode()
        for start in range(0, len(data), 1000):
            yield data[start:start + 1000]

    assert_error(client.post("/mtas", content=chunks(), headers=JSON), 413)
    # Exactly at the limit is fine (the service then refuses the long name: 400).
    at_limit = {"name": "", "prefix": "192.0.2.1"}
    at_limit["name"] = "m" * (TEST_MAX_BODY_BYTES - len(json.dumps(at_limit)))
    assert len(json.dumps(at_limit)) == TEST_MAX_BODY_BYTES
    assert_error(client.post("/mtas", content=json.dumps(at_limit), headers=JSON), 400, "name")
    assert client.get("/mtas").json()["total"] == before


# --------------------------------------------------------------------------- resources


def test_subscriber_round_trip(client: httpx.Client) -> None:
    dpid = new_dpid()
    add_switch(client, dpid, uplinks=[1])
    account = unique("BB")
    created = add_subscriber(client, dpid, 7, account=account,
                             prefixes=["198.51.100.7/32", "2001:db8:100::/56"])
    assert created["type"] == "broadband" and created["blocked_now"] is True
    prefixes = [a["prefix"] for a in created["attachments"]]
    assert prefixes == ["198.51.100.7/32", "2001:db8:100::/56"]
    assert client.get(f"/subscribers/{account}").json() == created

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    patched = client.patch(f"/subscribers/{account}", json={
        "name": "Hanako Yamada",
        "exemption": {"reason": "runs its own MTA", "until": until.isoformat()},
    })
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Hanako Yamada"
    assert body["exempt"] is True and body["blocked_now"] is False
    assert dt.datetime.fromisoformat(body["exempt_until"]) == until
    assert body["type"] == "broadband"  # left out of the PATCH: unchanged

    body = client.patch(f"/subscribers/{account}",
                        json={"type": "dialup", "exemption": None}).json()
    assert (body["type"], body["exempt"], body["name"]) == ("dialup", False, "Hanako Yamada")

    # Attachments: add one, remove it again.
    body = client.post(f"/subscribers/{account}/attachments",
                       json={"attachments": [{"dpid": hex(dpid), "port": 8, "vlan": 100}]}).json()
    added = [a for a in body["attachments"] if a["port"] == 8]
    assert len(added) == 1 and added[0]["vlan"] == 100
    body = client.delete(f"/subscribers/{account}/attachments/{added[0]['id']}").json()
    assert all(a["port"] != 8 for a in body["attachments"])

    deleted = client.delete(f"/subscribers/{account}")
    assert deleted.status_code == 200 and deleted.json()["account"] == account
    assert client.get(f"/subscribers/{account}").status_code == 404


def test_attachments_carry_encapsulations(client: httpx.Client) -> None:
    dpid = new_dpid()
    add_switch(client, dpid, uplinks=[1])
    account = unique("BB")
    body = {"account": account, "type": "broadband", "attachments": [
        {"dpid": dpid, "port": 7, "vlan": 300, "carries": ["qinq", "mpls", "qinq"]},
        {"dpid": dpid, "port": 8},
    ]}
    response = client.post("/subscribers", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert [(a["port"], a["carries"]) for a in created["attachments"]] == [
        (7, ["mpls", "qinq"]), (8, [])]
    assert client.get(f"/subscribers/{account}").json() == created
    body = client.post(f"/subscribers/{account}/attachments", json={"attachments": [
        {"dpid": hex(dpid), "port": 9, "carries": ["pppoe"]}]}).json()
    assert body["attachments"][-1]["carries"] == ["pppoe"]
    # The service's rule and message, as the CLI gives them; nothing written.
    bad = {"account": unique("BB"), "type": "broadband",
           "attachments": [{"dpid": dpid, "port": 10, "carries": ["mpls", "vxlan"]}]}
    error = assert_error(client.post("/subscribers", json=bad), 400, "carries", "vxlan")
    assert error["error"].endswith("known: mpls, pppoe, qinq)")
    assert client.get(f"/subscribers/{bad['account']}").status_code == 404
    # A string where the list belongs is a shape error naming the path.
    bad["attachments"][0]["carries"] = "mpls"
    assert_error(client.post("/subscribers", json=bad), 400, "attachments.0.carries", "mpls")


def test_patch_is_all_or_nothing(client: httpx.Client) -> None:
    dpid = new_dpid()
    add_switch(client, dpid)
    subscriber = add_subscriber(client, dpid, 3)
    account = subscriber["account"]
    response = client.patch(f"/subscribers/{account}", json={"name": "Changed",
                                                             "type": "no-such-type"})
    assert_error(response, 400, "type", "no-such-type")
    response = client.patch(f"/subscribers/{account}", json={
        "name": "Changed", "exemption": {"reason": "x", "until": "2020-01-01T00:00Z"}})
    assert_error(response, 400, "until", "2020-01-01T00:00Z")
    after = client.get(f"/subscribers/{account}").json()
    assert after == subscriber


def test_writes_are_audited_as_the_token_and_advance_the_revision(
        api: ApiProcess, client: httpx.Client) -> None:
    """The API writes through the service: audit trail names the token, controllers see it."""
    revision = client.get("/status").json()["policy_revision"]
    dpid = new_dpid()
    add_switch(client, dpid)
    account = add_subscriber(client, dpid, 6)["account"]
    client.patch(f"/subscribers/{account}", json={"name": "Renamed", "type": "dialup"})
    assert client.get("/status").json()["policy_revision"] >= revision + 3
    engine = make_engine(api.db_url)
    try:
        entries = PolicyService(engine).audit_log(account=account)
    finally:
        engine.dispose()
    assert {e.actor for e in entries} == {f"token:{WRITE_TOKEN_NAME}"}
    assert len(entries) == 2  # the create, and the PATCH as ONE change
    patch = entries[0]
    assert (patch.before["name"], patch.after["name"]) == ("Taro Yamada", "Renamed")
    assert (patch.before["type"], patch.after["type"]) == ("broadband", "dialup")


def test_switch_and_mta_and_type_resources(client: httpx.Client) -> None:
    dpid = new_dpid()
    created = add_switch(client, dpid, uplinks=[2, 1])
    assert created["uplinks"] == [1, 2] and created["dpid"] == dpid
    assert client.get(f"/switches/{hex(dpid)}").json() == created
    assert client.get(f"/switches/{dpid}").json() == created
    core = client.post("/switches", json={"dpid": new_dpid(), "name": unique("core"),
                                          "role": "core"}).json()
    assert core["role"] == "core"
    assert client.delete(f"/switches/{dpid}").json() == created
    assert client.get(f"/switches/{dpid}").status_code == 404

    name = unique("relay")
    mta = client.post("/mtas", json={"name": name, "prefix": "192.0.2.77"}).json()
    assert mta["prefix"] == "192.0.2.77/32"
    assert client.get(f"/mtas/{name}").json() == mta
    assert client.delete(f"/mtas/{name}").json() == mta
    # A wide prefix opens TCP/25 to a whole network: refused unless asked for.
    wide = {"name": unique("wide"), "prefix": f"172.30.{new_dpid() % 64 * 4}.0/22"}
    refused = client.post("/mtas", json=wide)
    assert refused.status_code == 400 and "prefix" in refused.text
    assert client.post("/mtas", json={**wide, "allow_wide": True}).status_code == 201

    type_name = unique("ftth").lower()
    ctype = client.post("/connection-types", json={"name": type_name, "blocked": True,
                                                   "description": "Fibre"}).json()
    assert client.get(f"/connection-types/{type_name}").json() == ctype


def test_list_paging_and_filters(client: httpx.Client) -> None:
    dpid, other = new_dpid(), new_dpid()
    add_switch(client, dpid)
    add_switch(client, other)
    stem = unique("PG")
    accounts = [f"{stem}-{i:02d}" for i in range(7)]
    for i, account in enumerate(accounts):
        add_subscriber(client, dpid if i < 5 else other, 10 + i, account=account,
                       type_name="dialup" if i % 2 else "broadband")

    def page(**params: Any) -> Any:
        response = client.get("/subscribers", params={"account_prefix": stem, **params})
        assert response.status_code == 200, response.text
        return response.json()

    everything = page()
    assert [s["account"] for s in everything["items"]] == accounts
    assert (everything["total"], everything["limit"], everything["offset"]) == (7, 100, 0)
    first, second, last = page(limit=3), page(limit=3, offset=3), page(limit=3, offset=6)
    assert [s["account"] for s in first["items"] + second["items"] + last["items"]] == accounts
    assert first["total"] == second["total"] == last["total"] == 7
    assert page(offset=7)["items"] == []
    assert [s["account"] for s in page(type="dialup")["items"]] == accounts[1::2]
    assert [s["account"] for s in page(dpid=hex(other))["items"]] == accounts[5:]
    assert page(dpid=hex(other), type="broadband")["total"] == 1

    switches = client.get("/switches", params={"role": "edge", "limit": 1}).json()
    assert len(switches["items"]) == 1 and switches["total"] >= 2
    assert client.get("/switches", params={"role": "core"}).json()["items"] == [
        s for s in client.get("/switches", params={"limit": 1000}).json()["items"]
        if s["role"] == "core"]


def test_policy_is_the_compiled_policy(api: ApiProcess, client: httpx.Client) -> None:
    dpid = new_dpid()
    add_switch(client, dpid, uplinks=[1])
    add_subscriber(client, dpid, 4, prefixes=["198.18.0.0/24"])
    exempt = add_subscriber(client, dpid, 5)
    until = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    client.patch(f"/subscribers/{exempt['account']}",
                 json={"exemption": {"reason": "own MTA", "until": until.isoformat()}})
    at = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)

    response = client.get(f"/switches/{hex(dpid)}/policy", params={"at": at.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()

    engine = make_engine(api.db_url)
    try:
        snapshot = load_snapshot(engine, dpids=[dpid])
    finally:
        engine.dispose()
    specs, next_change = compile_policy(snapshot, dpid, at)
    assert body["revision"] == snapshot.revision
    # No controller has reported this switch: op25b's default options.
    assert body["options_from"] is None
    assert dt.datetime.fromisoformat(body["at"]) == at
    assert dt.datetime.fromisoformat(body["next_change"]) == next_change == until
    expected = {(s.table, s.priority, json.dumps(dict(s.match), sort_keys=True), s.actions,
                 s.cookie, str(s)) for s in specs}
    got = {(e["table"], e["priority"], json.dumps(e["match"], sort_keys=True), e["actions"],
            e["cookie"], e["text"]) for e in body["entries"]}
    assert got == expected
    assert len(body["entries"]) == len(specs)
    priorities = [e["priority"] for e in body["entries"]]
    assert priorities == sorted(priorities, reverse=True)
    # Without ``at`` the policy is compiled for now.
    assert client.get(f"/switches/{dpid}/policy").status_code == 200


def test_status_is_what_op25b_status_reads(api: ApiProcess, client: httpx.Client) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    engine = make_engine(api.db_url)
    try:
        write_controller(engine, "ctl-test", 4242, now, now, 3, None)
        write_switches(engine, "ctl-test",
                       [SwitchRow(0x1, True, now, 3, 12, None, fragment_mode="nx-match"),
                        SwitchRow(0x2, False, None, None, 0, "barrier timeout")], now)
        expected = to_jsonable(read_status(engine))
    finally:
        engine.dispose()
    response = client.get("/status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy_revision"] == expected["policy_revision"]
    assert [c["controller_id"] for c in body["controllers"]] == ["ctl-test"]
    assert body["controllers"][0]["pid"] == 4242
    assert [(s["dpid"], s["connected"], s["entries"], s["last_error"])
            for s in body["switches"]] == [(1, True, 12, None), (2, False, 0, "barrier timeout")]
    assert [s["fragment_mode"] for s in body["switches"]] == ["nx-match", None]
    for got, want in zip(body["switches"], expected["switches"], strict=True):
        for key, value in want.items():
            if key.endswith(("_at", "_since")) and value is not None:
                assert dt.datetime.fromisoformat(got[key]) == dt.datetime.fromisoformat(value)
            else:
                assert got[key] == value, key


def test_policy_uses_the_options_of_the_serving_controller(api: ApiProcess,
                                                          client: httpx.Client) -> None:
    # After the status test: this adds a controller that test lists exactly.
    dpid = new_dpid()
    add_switch(client, dpid, uplinks=[1])
    add_subscriber(client, dpid, 4, prefixes=["198.18.1.0/24"])
    options = PolicyOptions(priority_base=20000)
    controller = unique("ctl-opts")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
    engine = make_engine(api.db_url)
    try:
        write_controller(engine, controller, 4343, now, now, None, None,
                         policy_options=options.to_dict())
        write_switches(engine, controller, [SwitchRow(dpid, True, now, None, 0, None)], now)
        specs, _ = compile_policy(load_snapshot(engine, dpids=[dpid]), dpid, at, options)
    finally:
        engine.dispose()

    response = client.get(f"/switches/{dpid}/policy", params={"at": at.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["options_from"] == controller
    assert {(e["priority"], e["text"]) for e in body["entries"]} == \
        {(s.priority, str(s)) for s in specs}
    assert max(e["priority"] for e in body["entries"]) < 30000


def test_a_bad_stored_row_is_quarantined_in_the_policy(api: ApiProcess,
                                                        client: httpx.Client) -> None:
    dpid = new_dpid()
    add_switch(client, dpid)
    name = unique("raw-mta")
    engine = make_engine(api.db_url)
    try:
        # A non-canonical prefix can only come from raw SQL; the loader leaves it out.
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO mtas (name, prefix) VALUES (:n, '192.0.2.1/24')"),
                         {"n": name})
        response = client.get(f"/switches/{dpid}/policy")
        assert response.status_code == 200, response.text
        [row] = [r for r in response.json()["quarantined"] if r["table"] == "mtas"]
        assert (row["field"], row["value"]) == ("prefix", "192.0.2.1/24")
        assert not any("192.0.2" in e["text"] for e in response.json()["entries"])
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM mtas WHERE name = :n"), {"n": name})
        engine.dispose()
    assert client.get(f"/switches/{dpid}/policy").status_code == 200


def test_responses_carry_every_field_of_the_service_views(api: ApiProcess,
                                                          client: httpx.Client) -> None:
    """A field added to a service view must be added to the API's models (and document)."""
    dpid = new_dpid()
    switch = add_switch(client, dpid)
    subscriber = add_subscriber(client, dpid, 9, prefixes=["198.19.0.0/30"])
    mta = client.post("/mtas", json={"name": unique("relay"), "prefix": "192.0.2.66"}).json()
    ctype = client.get("/connection-types/broadband").json()
    engine = make_engine(api.db_url)
    try:
        service = PolicyService(engine)
        views = {
            "switch": next(v for v in service.list_switches() if v.dpid == dpid).to_dict(),
            "subscriber": service.show_subscriber(subscriber["account"]).to_dict(),
            "mta": next(v for v in service.list_mtas() if v.name == mta["name"]).to_dict(),
            "type": next(v for v in service.list_connection_types()
                         if v.name == "broadband").to_dict(),
            "policy": to_jsonable(service.policy_preview(dpid).to_dict()),
        }
        status = to_jsonable(read_status(engine))
    finally:
        engine.dispose()
    served = {"switch": switch, "subscriber": subscriber, "mta": mta, "type": ctype,
              "policy": client.get(f"/switches/{dpid}/policy").json()}
    for kind, view in views.items():
        assert set(served[kind]) == set(view), kind
    assert set(subscriber["attachments"][0]) == set(views["subscriber"]["attachments"][0])
    assert set(client.get("/status").json()) == set(status)


def test_served_openapi_document_is_the_committed_one(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    committed = (REPO / "docs" / "openapi.json").read_text()
    assert render(response.json()) == committed
