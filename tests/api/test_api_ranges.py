"""``GET /ranges``: the blocked prefixes as text, CSV or an rbldnsd zone, for any token."""

from __future__ import annotations

import httpx

from tests.api.conftest import READ_TOKEN, ApiProcess

SWITCH = {"dpid": "0x2506", "name": "ranges-edge", "uplinks": [1]}


def _subscriber(account: str, kind: str, port: int, prefixes: list[str]) -> dict:
    return {"account": account, "name": account, "type": kind,
            "attachments": [{"dpid": SWITCH["dpid"], "port": port, "prefixes": prefixes}]}


def test_ranges_in_every_format(api: ApiProcess, client: httpx.Client) -> None:
    assert client.post("/switches", json=SWITCH).status_code == 201
    for body in (_subscriber("RNG-BB", "broadband", 2, ["100.64.25.0/24", "2001:db8:2506::/56"]),
                 _subscriber("RNG-DU", "dialup", 3, ["100.64.25.128/25"])):
        created = client.post("/subscribers", json=body)
        assert created.status_code == 201, created.text
    with api.client(READ_TOKEN) as reader:
        text = reader.get("/ranges")
        assert text.status_code == 200, text.text
        assert text.headers["content-type"].startswith("text/plain")
        assert int(text.headers["x-op25b-revision"]) > 0
        lines = text.text.splitlines()
        assert "100.64.25.0/25" in lines and "2001:db8:2506::/56" in lines
        assert "100.64.25.0/24" not in lines  # the dial-up half is cut out
        csv = reader.get("/ranges", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0] == "prefix,family"
        assert "100.64.25.0/25,ipv4" in csv.text.splitlines()
        zone = reader.get("/ranges", params={"format": "rbldnsd"}).text.splitlines()
        assert "$DATASET ip4set:op25b-ipv4 @" in zone and "100.64.25.0/25" in zone


def test_unknown_format_is_400_naming_the_field(client: httpx.Client) -> None:
    answer = client.get("/ranges", params={"format": "bind"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["field"] == "format"


def test_ranges_need_a_token(api: ApiProcess) -> None:
    with api.client(None) as anonymous:
        assert anonymous.get("/ranges").status_code == 401
