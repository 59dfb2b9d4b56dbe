"""The live path on PostgreSQL: the production backend, LISTEN/NOTIFY, psql writes."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from tests.lab import labkit
from tests.lab.test_lab_live import ext, op, until_tcp
from topologies.isp import EDGE_DPID


@pytest.fixture(scope="module")
def live_pg(lab_ready):
    admin_url = os.environ.get("OP25B_TEST_PG_URL")
    if not admin_url:
        pytest.fail("OP25B_TEST_PG_URL is not set: run the suite with 'make test'", pytrace=False)
    from op25b_app.db.engine import normalise_url

    name = f"op25b_lab_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = normalise_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with labkit.example_lab(db_url, ["--op25b-poll-interval", "120"]) as lab:
            yield lab, name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_cli_change_reaches_the_switch_through_notify(live_pg):
    live, _name = live_pg
    lab = live.lab
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT
    op(live, "subscriber", "set-type", "BB-0001", "dialup")
    # Polling is every 120 s here, longer than the 30 s cap: only NOTIFY can
    # have woken the controller.
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    op(live, "subscriber", "set-type", "BB-0001", "broadband")
    until_tcp(lab, "bb1", ext(6), 25, labkit.TIMEOUT)
    assert "LISTEN connection lost" not in live.controller.log()


def test_psql_update_takes_effect(live_pg):
    live, name = live_pg
    lab = live.lab
    sql = ("UPDATE subscribers SET type_id = (SELECT id FROM connection_types "
           "WHERE name = '{}') WHERE account = 'BB-0001'")
    subprocess.run(["psql", "-d", name, "-qc", sql.format("dialup")], check=True)
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    subprocess.run(["psql", "-d", name, "-qc", sql.format("broadband")], check=True)
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)


def test_status_is_written_to_postgresql(live_pg):
    live, _name = live_pg

    def edge_in_sync():
        data = json.loads(op(live, "status", "--json"))
        return any(s["dpid"] == EDGE_DPID and s["in_sync"] for s in data["switches"])

    labkit.wait_for(edge_in_sync, 30, what="edge switch in sync in status")
