"""``op25b switch add|set --capacity/--compact``: stored, listed, and a full table refused."""

from __future__ import annotations

import json

from tests.unit.cli.test_cli import counts, run


def test_capacity_and_compact_from_the_command_line(sqlite_url: str) -> None:
    db = sqlite_url
    assert run("--db", db, "db", "init")[0] == 0
    status, out, err = run("--db", db, "switch", "add", "--dpid", "0x1", "--name", "edge1",
                           "--uplink", "1", "--capacity", "19")
    assert status == 0, err
    assert "19" in out and "no" in out
    # A whole port (IPv4 + IPv6 at weight 2) fills the switch to 19 of 19.
    assert run("--db", db, "subscriber", "add", "--account", "A1", "--type", "broadband",
               "--attach", "0x1:2")[0] == 0
    before = counts(db)
    status, _, err = run("--db", db, "subscriber", "add", "--account", "A2", "--type",
                         "broadband", "--attach", "0x1:3")
    assert status == 2
    assert "switch 'edge1' (dpid 0x1) would hold 22 entries; its capacity is 19" in err
    assert counts(db) == before
    status, out, err = run("--db", db, "--json", "switch", "set", "0x1", "--compact",
                           "--capacity", "none")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["capacity"] is None and shown["compact"] is True
    status, _, err = run("--db", db, "switch", "set", "0x1", "--capacity", "0")
    assert status == 2 and "capacity" in err
