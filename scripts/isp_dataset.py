"""A realistic synthetic ISP subscriber base for benchmarks (not contiguous /32s).

Shape (per edge switch; subscribers spread over ``switches`` edge switches):
  * ports 1-2 are uplinks; ports 3-26 face BNG/RAS aggregation, 27-48 are FTTH ports;
  * 55% broadband on shared BNG ports: one IPv4 /32 from a shared pool plus an IPv6
    /56 delegation, on port+VLAN (S-VLAN per port group);
  * 10% broadband on dedicated FTTH ports: port+VLAN only (C-VLAN per customer);
  * 30% dial-up: /32s drawn from the *same* shared pools as broadband (mixed pools),
    on RAS ports, no IPv6;
  * 5% business (exempt type) with a /29;
  * 1% of broadband with an opt-out, a third of those expiring;
  * 10 MTAs (5 IPv4, 5 IPv6).
Addresses are shuffled (not contiguous) so aggregation cannot cheat.

Rows are bulk-inserted with SQLAlchemy Core straight into the tables: this is
how a migration from an existing subscriber system would be loaded, and the
triggers still advance the revision once per statement.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from op25b_app.db.engine import write_connection

from op25b_app.db.models import (
    Attachment,
    ConnectionType,
    Mta,
    Subscriber,
    Switch,
    SwitchUplink,
    canonical_prefix,
    make_match_key,
)

UPLINKS = (1, 2)


def populate(engine: sa.Engine, subscribers: int, switches: int = 20, seed: int = 25,
             first_dpid: int = 0x100) -> dict[str, int]:
    """Insert the dataset; returns counts. Switch dpids are first_dpid.. ."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    with write_connection(engine) as conn:
        types = dict(conn.execute(sa.select(ConnectionType.name, ConnectionType.id)).all())
        if "business" not in types:
            conn.execute(sa.insert(ConnectionType.__table__).values(
                name="business", blocked=False, description="exempt by contract"))
            types = dict(conn.execute(sa.select(ConnectionType.name, ConnectionType.id)).all())
        switch_ids = []
        for n in range(switches):
            dpid = first_dpid + n
            sid = conn.execute(sa.insert(Switch.__table__).values(
                dpid=dpid, name=f"bench-edge-{n}", role="edge",
                created_at=now).returning(Switch.__table__.c.id)).scalar_one()
            conn.execute(sa.insert(SwitchUplink.__table__),
                         [{"switch_id": sid, "port": p} for p in UPLINKS])
            switch_ids.append((sid, dpid))
        conn.execute(sa.insert(Mta.__table__), [
            {"name": f"relay{i}", "prefix": f"192.0.2.{10 + i}/32"} for i in range(5)
        ] + [{"name": f"relay6-{i}", "prefix": f"2001:db8:25::{10 + i:x}/128"} for i in range(5)])

        # Shared pools: 100.64.0.0/10 carved per switch; addresses shuffled.
        v4_hosts = rng.sample(range(1, 1 << 22), subscribers + 16 * subscribers // 20 + 64)
        subs, atts = [], []
        v4_iter = iter(v4_hosts)
        for i in range(1, subscribers + 1):
            sid, dpid = switch_ids[i % switches]
            roll = rng.random()
            exempt, until = False, None
            if roll < 0.55:
                kind = "broadband"
                port, vlan = 3 + rng.randrange(24), 100 + rng.randrange(8)
                host = next(v4_iter)
                prefixes = [f"100.{64 + (host >> 16)}.{(host >> 8) & 255}.{host & 255}/32",
                            f"2001:db8:{rng.randrange(1 << 16):x}:{rng.randrange(256) << 8:x}::/56"]
            elif roll < 0.65:
                kind = "broadband"
                port, vlan, prefixes = 27 + rng.randrange(22), 1000 + i % 3000, [None]
            elif roll < 0.95:
                kind = "dialup"
                port, vlan = 3 + rng.randrange(24), None
                host = next(v4_iter)
                prefixes = [f"100.{64 + (host >> 16)}.{(host >> 8) & 255}.{host & 255}/32"]
            else:
                kind = "business"
                port, vlan = 3 + rng.randrange(24), None
                host = next(v4_iter) & ~7
                prefixes = [f"100.{64 + (host >> 16)}.{(host >> 8) & 255}.{host & 255}/29"]
            if kind == "broadband" and rng.random() < 0.01:
                exempt = True
                until = now + dt.timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.33 else None
            subs.append({"id": i, "account": f"A{i:08d}", "name": f"Customer {i}",
                         "type_id": types[kind], "exempt": exempt,
                         "exempt_reason": "own mail server" if exempt else None,
                         "exempt_until": until, "created_at": now, "updated_at": now})
            for prefix in prefixes:
                prefix = None if prefix is None else canonical_prefix(prefix)
                key = make_match_key(dpid, port, vlan, prefix)
                atts.append({"subscriber_id": i, "switch_id": sid, "port": port, "vlan": vlan,
                             "prefix": prefix, "match_key": key})
        # Shared pools can hand the same /29 or the same FTTH port+VLAN out twice
        # in a random draw; the database rejects such duplicates, so drop them.
        seen: set[str] = set()
        unique = []
        for row in atts:
            if row["match_key"] not in seen:
                seen.add(row["match_key"])
                unique.append(row)
        conn.execute(sa.insert(Subscriber.__table__), subs)
        for start in range(0, len(unique), 50_000):
            conn.execute(sa.insert(Attachment.__table__), unique[start:start + 50_000])
        _fix_sequences(conn)
    return {"subscribers": subscribers, "attachments": len(unique), "switches": switches}


def populate_single_switch(engine: sa.Engine, dpid: int, entries: int, seed: int = 7,
                           existing: bool = False, first_port: int = 2) -> None:
    """``entries`` broadband subscribers with one IPv4 /32 each on one switch.

    One attachment with a prefix compiles to exactly one entry, so the switch
    gets ``entries`` attachment entries plus op25b's fixed ones. With
    ``existing`` the switch row must already exist (a lab switch).
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    hosts = rng.sample(range(1, 1 << 22), entries)
    with write_connection(engine) as conn:
        types = dict(conn.execute(sa.select(ConnectionType.name, ConnectionType.id)).all())
        if existing:
            sid = conn.execute(sa.select(Switch.__table__.c.id).where(
                Switch.__table__.c.dpid == dpid)).scalar_one()
        else:
            sid = conn.execute(sa.insert(Switch.__table__).values(
                dpid=dpid, name=f"bench-{dpid:x}", role="edge",
                created_at=now).returning(Switch.__table__.c.id)).scalar_one()
            conn.execute(sa.insert(SwitchUplink.__table__).values(switch_id=sid, port=1))
        first_id = (conn.execute(sa.select(sa.func.max(Subscriber.__table__.c.id))).scalar()
                    or 0) + 1
        conn.execute(sa.insert(Subscriber.__table__), [
            {"id": first_id + i, "account": f"S{dpid:x}-{i:08d}", "name": f"Customer {i}",
             "type_id": types["broadband"], "exempt": False, "created_at": now,
             "updated_at": now} for i in range(entries)])
        rows = []
        for i, host in enumerate(hosts):
            prefix = f"100.{64 + (host >> 16)}.{(host >> 8) & 255}.{host & 255}/32"
            port = first_port + i % 40
            rows.append({"subscriber_id": first_id + i, "switch_id": sid, "port": port,
                         "vlan": None, "prefix": prefix,
                         "match_key": make_match_key(dpid, port, None, prefix)})
        for start in range(0, len(rows), 50_000):
            conn.execute(sa.insert(Attachment.__table__), rows[start:start + 50_000])
        _fix_sequences(conn)


def _fix_sequences(conn: sa.Connection) -> None:
    """Explicit ids bypass PostgreSQL's sequences; move them past the new rows."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("subscribers", "attachments", "switches"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
