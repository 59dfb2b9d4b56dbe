"""``/switches`` capacity and compact over real HTTP: stored, patched, a full table is a 409."""

from __future__ import annotations

import secrets

import httpx

from tests.api.conftest import ApiProcess


def test_capacity_refuses_a_subscriber_and_patch_changes_it(api: ApiProcess,
                                                            client: httpx.Client) -> None:
    dpid = 0x7CA0_0000 + secrets.randbelow(0xFFFF)
    created = client.post("/switches", json={"dpid": dpid, "name": f"t{dpid:x}",
                                             "uplinks": [1], "capacity": 19})
    assert created.status_code == 201, created.text
    assert created.json()["capacity"] == 19 and created.json()["compact"] is False
    account = f"T{dpid:x}"

    def add(suffix: str, port: int) -> httpx.Response:
        return client.post("/subscribers", json={
            "account": account + suffix, "type": "broadband",
            "attachments": [{"dpid": dpid, "port": port}]})

    assert add("a", 2).status_code == 201
    refused = add("b", 3)
    assert refused.status_code == 409, refused.text
    assert "would hold 22 entries; its capacity is 19" in refused.text
    patched = client.patch(f"/switches/{dpid}", json={"capacity": None, "compact": True})
    assert patched.status_code == 200, patched.text
    assert patched.json()["capacity"] is None and patched.json()["compact"] is True
    kept = client.patch(f"/switches/{dpid}", json={})
    assert kept.json()["compact"] is True  # a key left out is left as it is
    assert client.patch(f"/switches/{dpid}", json={"compact": 1}).status_code in (400, 422)
    assert add("b", 3).status_code == 201
