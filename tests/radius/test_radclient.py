"""radclient against ``op25b radius``: every accounting case, the database asserted after each."""

from __future__ import annotations

import datetime as dt
import time

from tests.radius.harness import (
    SECRET6,
    Radius,
    attribute,
    integer,
    radclient,
    raw_request,
    revision,
    send_raw,
    sessions,
    text,
)

T0 = 1_800_000_000  # Event-Timestamp of the tests' sessions (2027-01-15)


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC)


def start(sid: str, user: str, *extra: str, ts: int = 0) -> list[str]:
    return ["Acct-Status-Type = Start", f'User-Name = "{user}"', f'Acct-Session-Id = "{sid}"',
            f"Event-Timestamp = {T0 + ts}", *extra]


def test_start_interim_stop(radius: Radius) -> None:
    rev = revision(radius)
    radclient(radius, start("a1", "BB-0001@isp.example", "Framed-IP-Address = 198.51.100.7",
                            'NAS-Identifier = "bng-tokyo"', "NAS-IP-Address = 192.0.2.10",
                            "Acct-Interim-Interval = 600"))
    [row] = sessions(radius, acct_session_id="a1")
    assert (row["nas"], row["account"], row["user_name"]) == ("bng1", "BB-0001",
                                                               "BB-0001@isp.example")
    assert (row["dpid"], row["port"], row["vlan"]) == (1, 5, None)
    assert row["framed_ip"] == "198.51.100.7/32" and row["ended_at"] is None
    assert row["started_at"] == at(0) and row["interim_interval"] == 600
    assert (row["nas_identifier"], row["nas_ip"]) == ("bng-tokyo", "192.0.2.10")
    assert row["expires_at"] - row["last_seen"] == dt.timedelta(seconds=1800)
    assert revision(radius) > rev
    # An Interim-Update that changes nothing moves liveness only: no policy revision.
    rev = revision(radius)
    radclient(radius, ["Acct-Status-Type = Interim-Update", 'User-Name = "BB-0001@isp.example"',
                       'Acct-Session-Id = "a1"', "Framed-IP-Address = 198.51.100.7",
                       f"Event-Timestamp = {T0 + 600}", "Acct-Interim-Interval = 300"])
    [after] = sessions(radius, acct_session_id="a1")
    assert after["last_seen"] > row["last_seen"] and after["interim_interval"] == 300
    assert revision(radius) == rev
    # An Interim-Update with a new address is a policy change.
    radclient(radius, ["Acct-Status-Type = Interim-Update", 'User-Name = "BB-0001@isp.example"',
                       'Acct-Session-Id = "a1"', "Framed-IP-Address = 198.51.100.8",
                       f"Event-Timestamp = {T0 + 900}"])
    assert sessions(radius, acct_session_id="a1")[0]["framed_ip"] == "198.51.100.8/32"
    assert revision(radius) > rev
    radclient(radius, ["Acct-Status-Type = Stop", 'User-Name = "BB-0001@isp.example"',
                       'Acct-Session-Id = "a1"', f"Event-Timestamp = {T0 + 1200}",
                       "Acct-Session-Time = 1200"])
    [ended] = sessions(radius, acct_session_id="a1")
    assert ended["ended_at"] == at(1200) and ended["end_reason"] == "stop"
    assert ended["framed_ip"] == "198.51.100.8/32"  # kept for 'session who'


def test_nas_port_id_map_and_ipv6_over_ipv6(radius: Radius) -> None:
    radclient(radius, start("b1", "DU-0001", 'NAS-Port-Id = "ge-0/0/7"',
                            "Framed-IPv6-Prefix = 2001:db8:7::/64",
                            "Delegated-IPv6-Prefix = 2001:db8:700::/56"))
    [row] = sessions(radius, acct_session_id="b1")
    assert (row["port"], row["vlan"], row["nas_port_id"]) == (7, 100, "ge-0/0/7")
    assert (row["framed_ipv6_prefix"], row["delegated_ipv6_prefix"]) == (
        "2001:db8:7::/64", "2001:db8:700::/56")
    radclient(radius, start("b6", "DU-0001", "Framed-IP-Address = 198.51.100.66"),
              secret=SECRET6, host="::1")
    [row6] = sessions(radius, acct_session_id="b6")
    assert (row6["nas"], row6["port"]) == ("bng6", 6)


def test_duplicates_are_idempotent(radius: Radius) -> None:
    packet = raw_request(text(1, "BB-0001") + integer(40, 1) + text(44, "c1")
                         + attribute(8, bytes([198, 51, 100, 20])) + integer(55, T0))
    rev_before = revision(radius)
    first = send_raw(radius, packet)
    rev_after = revision(radius)
    # Byte-exact retransmissions from the same port: the same reply again, no new write.
    second = send_raw(radius, packet, times=3)
    assert first is not None and first == second and first[0] == 5
    assert revision(radius) == rev_after > rev_before
    # The same Start sent again as a new request (new id): still one session.
    for _ in range(2):
        radclient(radius, start("c1", "BB-0001", "Framed-IP-Address = 198.51.100.20"))
    assert len(sessions(radius, acct_session_id="c1")) == 1
    assert radius.metric("op25b_radius_requests_total", type="Start", result="duplicate") >= 1


def test_wrong_secret_and_unknown_client_get_no_reply(radius: Radius) -> None:
    bad = radius.metric("op25b_radius_dropped_packets_total", reason="bad-authenticator")
    radclient(radius, start("d1", "BB-0001", "Framed-IP-Address = 198.51.100.30"),
              secret="not-the-secret", expect_reply=False)
    assert sessions(radius, acct_session_id="d1") == []
    assert radius.metric("op25b_radius_dropped_packets_total",
                         reason="bad-authenticator") > bad
    unknown = radius.metric("op25b_radius_dropped_packets_total", reason="unknown-client")
    packet = raw_request(text(1, "BB-0001") + integer(40, 1) + text(44, "d2"))
    assert send_raw(radius, packet, source="127.0.0.9", timeout=1) is None
    assert sessions(radius, acct_session_id="d2") == []
    assert radius.metric("op25b_radius_dropped_packets_total", reason="unknown-client") > unknown
    assert radius.log().count("dropped a request from 127.0.0.9") == 1
    send_raw(radius, packet, source="127.0.0.9", timeout=0.3)
    assert radius.log().count("dropped a request from 127.0.0.9") == 1  # once a minute


def test_malformed_attributes_are_dropped(radius: Radius) -> None:
    dropped = radius.metric("op25b_radius_dropped_packets_total", reason="malformed")
    cases = [
        integer(40, 1) + text(44, "e1") + attribute(8, b"\x01\x02"),       # 2-byte IPv4
        integer(40, 1) + text(1, "BB-0001"),                               # no Acct-Session-Id
        integer(40, 1) + text(44, "e3") + attribute(97, b"\x00\xc8" + bytes(16)),  # /200
        integer(40, 1) + text(44, "e4") + attribute(55, b"\x01"),          # 1-byte timestamp
    ]
    for index, attributes in enumerate(cases):
        assert send_raw(radius, raw_request(attributes, ident=100 + index), timeout=1) is None
    assert radius.metric("op25b_radius_dropped_packets_total", reason="malformed") \
        == dropped + len(cases)
    assert all(sessions(radius, acct_session_id=f"e{i}") == [] for i in range(1, 5))
    truncated = raw_request(integer(40, 1))[:-1]  # length field longer than the datagram
    assert send_raw(radius, truncated, timeout=1) is None


def test_stop_before_start_and_twice(radius: Radius) -> None:
    stop = ["Acct-Status-Type = Stop", 'User-Name = "BB-0001"', 'Acct-Session-Id = "f1"',
            f"Event-Timestamp = {T0 + 100}"]
    radclient(radius, stop)
    radclient(radius, start("f1", "BB-0001", "Framed-IP-Address = 198.51.100.40", ts=0))
    radclient(radius, stop)
    [row] = sessions(radius, acct_session_id="f1")
    assert row["end_reason"] == "stop-before-start" and row["framed_ip"] is None
    # A later session reusing the id (its own, later Event-Timestamp) is a new one.
    radclient(radius, start("f1", "BB-0001", "Framed-IP-Address = 198.51.100.40", ts=500))
    rows = sessions(radius, acct_session_id="f1")
    assert len(rows) == 2 and rows[1]["ended_at"] is None


def test_accounting_on_and_off_end_that_nas_only(radius: Radius) -> None:
    for sid, ip in (("g1", "198.51.100.51"), ("g2", "198.51.100.52")):
        radclient(radius, start(sid, "BB-0001", f"Framed-IP-Address = {ip}", ts=1000))
    radclient(radius, start("g6", "BB-0001", "Framed-IP-Address = 198.51.100.56", ts=1000),
              secret=SECRET6, host="::1")
    radclient(radius, ["Acct-Status-Type = Accounting-On", f"Event-Timestamp = {T0 + 2000}"])
    for sid in ("g1", "g2"):
        [row] = sessions(radius, acct_session_id=sid)
        assert (row["end_reason"], row["ended_at"]) == ("accounting-on", at(2000))
    assert sessions(radius, acct_session_id="g6")[0]["ended_at"] is None
    # A session started after the On survives the On's retransmission.
    radclient(radius, start("g3", "BB-0001", "Framed-IP-Address = 198.51.100.53", ts=2100))
    radclient(radius, ["Acct-Status-Type = Accounting-On", f"Event-Timestamp = {T0 + 2000}"])
    assert sessions(radius, acct_session_id="g3")[0]["ended_at"] is None
    radclient(radius, ["Acct-Status-Type = Accounting-Off", f"Event-Timestamp = {T0 + 3000}"],
              secret=SECRET6, host="::1")
    assert sessions(radius, acct_session_id="g6")[0]["end_reason"] == "accounting-off"
    assert sessions(radius, acct_session_id="g3")[0]["ended_at"] is None


def test_unknown_user_is_an_unknown_blocked_session(radius: Radius) -> None:
    radclient(radius, start("h1", "nobody@other.example", "Framed-IP-Address = 198.51.100.60"))
    radclient(radius, ["Acct-Status-Type = Start", 'Acct-Session-Id = "h2"',
                       "Framed-IP-Address = 198.51.100.61"])
    assert sessions(radius, acct_session_id="h1")[0]["account"] == "nobody@other.example"
    assert sessions(radius, acct_session_id="h2")[0]["account"] == "(unknown)"
    from op25b_app.db.snapshot_loader import load_snapshot

    engine = radius.engine()
    try:
        rules = {str(r.prefix): r for r in load_snapshot(engine).attachments_for(1)}
    finally:
        engine.dispose()
    for address in ("198.51.100.60/32", "198.51.100.61/32"):
        assert rules[address].type_name == "(unknown)"
        assert rules[address].blocked_at(dt.datetime.now(dt.UTC))


def test_reassigned_address_moves_to_the_new_session(radius: Radius) -> None:
    radclient(radius, start("i1", "BB-0001", "Framed-IP-Address = 198.51.100.70", ts=0))
    radclient(radius, start("i2", "DU-0001", "Framed-IP-Address = 198.51.100.70", ts=60))
    [old], [new] = sessions(radius, acct_session_id="i1"), sessions(radius, acct_session_id="i2")
    assert old["end_reason"] == "address-reassigned" and new["ended_at"] is None
    engine = radius.engine()
    try:
        import sqlalchemy as sa

        with engine.connect() as conn:
            audit = conn.execute(sa.text(
                "SELECT actor, after_state FROM audit_log WHERE action = 'address-moved' "
                "AND entity_key = 'bng1/i1'")).all()
    finally:
        engine.dispose()
    [(actor, after)] = audit
    assert actor == "radius" and "198.51.100.70/32" in after and "DU-0001" in after


def test_missed_interims_expire_the_session(radius: Radius) -> None:
    radclient(radius, start("j1", "BB-0001", "Framed-IP-Address = 198.51.100.80",
                            "Acct-Interim-Interval = 1"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sessions(radius, acct_session_id="j1")[0][
            "ended_at"] is None:
        time.sleep(0.2)
    [row] = sessions(radius, acct_session_id="j1")
    assert row["end_reason"] == "expired" and row["ended_at"] == row["expires_at"]
    assert row["expires_at"] - row["last_seen"] == dt.timedelta(seconds=3)
