"""``/sessions`` over real HTTP: a DHCP hook's create/refresh/end, filters, scopes, errors."""

from __future__ import annotations

import secrets

import httpx

from tests.api.conftest import READ_TOKEN, ApiProcess


def _switch(client: httpx.Client) -> int:
    dpid = 0x5E55_0000 + secrets.randbelow(0xFFFF)
    response = client.post("/switches", json={"dpid": dpid, "name": f"s{dpid:x}",
                                              "uplinks": [1]})
    assert response.status_code == 201, response.text
    return dpid


def test_dhcp_hook_creates_refreshes_and_ends(api: ApiProcess, client: httpx.Client) -> None:
    dpid = _switch(client)
    body = {"nas": "kea1", "session_id": "lease-198.51.100.90", "account": "DHCP-0001",
            "dpid": dpid, "port": 5, "addresses": ["198.51.100.90", "2001:db8:90::/64"],
            "lifetime_seconds": 3600}
    created = client.post("/sessions", json=body)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["source"] == "dhcp" and session["live"] and not session["known"]
    assert session["addresses"] == ["198.51.100.90/32", "2001:db8:90::/64"]
    again = client.post("/sessions", json=body).json()  # the hook runs twice: same session
    assert again["id"] == session["id"]
    page = client.get("/sessions", params={"address": "2001:db8:90::5", "live": True}).json()
    assert [s["id"] for s in page["items"]] == [session["id"]] and page["total"] == 1
    assert client.get("/sessions", params={"nas": "kea1", "account": "nobody"}).json()[
        "total"] == 0
    assert client.get(f"/sessions/{session['id']}").json()["account"] == "DHCP-0001"
    ended = client.delete(f"/sessions/{session['id']}")
    assert ended.status_code == 200 and ended.json()["end_reason"] == "released"
    assert client.delete(f"/sessions/{session['id']}").json()["ended_at"] == \
        ended.json()["ended_at"]
    with api.client(READ_TOKEN) as reader:
        assert reader.get("/sessions").status_code == 200
        assert reader.post("/sessions", json=body).status_code == 403
        assert reader.delete(f"/sessions/{session['id']}").status_code == 403


def test_bad_session_input_is_400_naming_the_field(client: httpx.Client) -> None:
    dpid = _switch(client)
    base = {"nas": "kea1", "session_id": "x", "account": "A", "dpid": dpid, "port": 5}
    bad = client.post("/sessions", json={**base, "addresses": ["198.51.100.0/24"]})
    assert bad.status_code == 400 and bad.json()["field"] == "framed_ip"
    unknown = client.post("/sessions", json={**base, "dpid": 0x7777_7777})
    assert unknown.status_code == 400 and unknown.json()["field"] == "dpid"
    assert client.get("/sessions", params={"address": "not-an-address"}).status_code == 400
    assert client.get("/sessions/999999").status_code == 404
