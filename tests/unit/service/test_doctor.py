"""``op25b doctor``'s checks, each on SQLite and PostgreSQL with rows written directly.

The controller's side of the database is written with the controller's own
writers (``op25b_app.db.status``), ages relative to the database's clock, so
each test sets up exactly the state a real controller would leave behind.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.db import migrate, status
from op25b_app.db.engine import make_engine
from op25b_app.db.models import utc_now
from op25b_app.db.snapshot_loader import read_revision
from op25b_app.service import Check, DoctorSettings, PolicyService, run_doctor
from op25b_app.service.doctor import check_database, check_metrics, check_tls

#: Only the database checks (metrics and TLS have tests of their own).
DB_ONLY = DoctorSettings(metrics_url=None, controller_config=None)
DPID = 0x1


def checks(engine: sa.Engine, settings: DoctorSettings = DB_ONLY, **kw) -> dict[str, Check]:
    return {c.name: c for c in run_doctor(engine, settings, **kw).checks}


def revision(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return read_revision(conn)


def heartbeat(engine: sa.Engine, cid: str = "ctl-a", age: float = 1.0,
              loaded: int | None = None, bad: tuple[int, str] | None = None,
              options: dict | None = None) -> None:
    now = utc_now() - dt.timedelta(seconds=age)
    status.write_controller(engine, cid, 4242, now, now,
                            revision(engine) if loaded is None else loaded, bad, options)


def report_switch(engine: sa.Engine, dpid: int = DPID, cid: str = "ctl-a", *,
                  connected: bool = True, applied: int | None = None, entries: int = 20,
                  error: str | None = None, fragments: str | None = "nx-match") -> None:
    row = status.SwitchRow(dpid, connected, utc_now(), revision(engine) if applied is None
                           else applied, entries, error, fragments)
    status.write_switches(engine, cid, [row], utc_now())


def age_revision(engine: sa.Engine, seconds: float) -> None:
    """Pretend the newest policy change happened ``seconds`` ago."""
    when = utc_now() - dt.timedelta(seconds=seconds)
    if engine.dialect.name == "sqlite":
        when = when.replace(tzinfo=None)  # stored as UTC text without an offset
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE policy_revision SET changed_at = :t WHERE id = 1"),
                     {"t": when})


@pytest.fixture
def healthy(db_engine: sa.Engine) -> sa.Engine:
    """One registered switch, served in sync by one live controller."""
    PolicyService(db_engine).add_switch(DPID, "edge1", uplinks=[1])
    heartbeat(db_engine)
    report_switch(db_engine)
    return db_engine


# --------------------------------------------------------------------------- database, clock


def test_a_healthy_database_passes_every_database_check(healthy: sa.Engine) -> None:
    report = run_doctor(healthy, DB_ONLY)
    assert [c.status for c in report.checks] == ["ok"] * len(report.checks), report.checks
    assert report.exit_status == 0
    names = {c.name for c in report.checks}
    assert {"database", "clock", "controller ctl-a", "policy ctl-a", "switch edge1 (0x1)",
            "unregistered switches", "quarantine"} <= names


def test_schema_behind_fails_and_says_upgrade(db_engine: sa.Engine) -> None:
    migrate.downgrade(db_engine, "0006")
    report = run_doctor(db_engine, DB_ONLY)
    assert report.exit_status == 2
    [check] = report.checks
    assert check.status == "fail" and "0006" in check.detail and check.fix == "op25b db upgrade"


def test_unreachable_database_fails(tmp_path: Path) -> None:
    engine = make_engine("postgresql://op25b@127.0.0.1:1/op25b")
    [check] = check_database(engine)
    assert check.status == "fail" and "unreachable" in check.detail


def test_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing.db"
    [check] = check_database(make_engine(f"sqlite:///{path}"))
    assert check.status == "fail" and "does not exist" in check.detail
    assert not path.exists()


def test_clock_skew_over_the_limit_warns(healthy: sa.Engine) -> None:
    assert checks(healthy)["clock"].status == "ok"
    ahead = checks(healthy, clock=lambda: utc_now() + dt.timedelta(seconds=10))["clock"]
    assert ahead.status == "warn" and "-10.0 s" in ahead.detail and "NTP" in ahead.fix


# --------------------------------------------------------------------------- controllers


def test_no_controller_fails(db_engine: sa.Engine) -> None:
    assert checks(db_engine)["controllers"].status == "fail"


def test_stale_heartbeat_fails_and_threshold_is_configurable(healthy: sa.Engine) -> None:
    heartbeat(healthy, age=40)
    check = checks(healthy)["controller ctl-a"]
    assert check.status == "fail" and "40 s old (limit 15 s" in check.detail
    relaxed = DoctorSettings(stale_after=60, metrics_url=None, controller_config=None)
    assert checks(healthy, relaxed)["controller ctl-a"].status == "ok"


def test_stale_controller_beside_a_live_one_warns(healthy: sa.Engine) -> None:
    heartbeat(healthy, "ctl-old", age=3600)
    found = checks(healthy)
    assert found["controller ctl-old"].status == "warn"
    assert found["controller ctl-a"].status == "ok"


def test_revision_behind_is_ok_while_recent_and_fails_when_stuck(healthy: sa.Engine) -> None:
    current = revision(healthy)
    PolicyService(healthy).add_switch(0x2, "edge2")
    report_switch(healthy, 0x2, applied=current + 1)
    heartbeat(healthy, loaded=current)
    report_switch(healthy, applied=current)
    assert "catching up" in checks(healthy)["policy ctl-a"].detail
    age_revision(healthy, 120)
    found = checks(healthy)
    assert found["policy ctl-a"].status == "fail"
    assert f"revision {current} loaded, database at {current + 1} for 12" in \
        found["policy ctl-a"].detail
    assert found["switch edge1 (0x1)"].status == "fail"


def test_rejected_revision_fails_with_the_reason(healthy: sa.Engine) -> None:
    heartbeat(healthy, bad=(revision(healthy), "attachments 7 prefix '10.0.0.300/32' bad"))
    check = checks(healthy)["policy ctl-a"]
    assert check.status == "fail" and "10.0.0.300/32" in check.detail


# --------------------------------------------------------------------------- switches


def test_registered_switch_never_connected_fails(db_engine: sa.Engine) -> None:
    PolicyService(db_engine).add_switch(DPID, "edge1")
    heartbeat(db_engine)
    check = checks(db_engine)["switch edge1 (0x1)"]
    assert check.status == "fail" and "never reported" in check.detail


def test_a_dead_controllers_connected_row_is_not_believed(healthy: sa.Engine) -> None:
    heartbeat(healthy, age=600)
    check = checks(healthy)["switch edge1 (0x1)"]
    assert check.status == "fail" and "not connected to a live controller" in check.detail


def test_switch_error_fails(healthy: sa.Engine) -> None:
    report_switch(healthy, error="OFPFMFC_TABLE_FULL on entry ...")
    check = checks(healthy)["switch edge1 (0x1)"]
    assert check.status == "fail" and "OFPFMFC_TABLE_FULL" in check.detail


def test_capacity_from_the_controllers_max_entries(healthy: sa.Engine) -> None:
    heartbeat(healthy, options={"max_entries": 100})
    report_switch(healthy, entries=50)
    assert checks(healthy)["switch edge1 (0x1)"].status == "ok"
    report_switch(healthy, entries=95)
    assert checks(healthy)["switch edge1 (0x1)"].status == "warn"
    report_switch(healthy, entries=100)
    assert checks(healthy)["switch edge1 (0x1)"].status == "fail"


def test_fragment_handling_other_than_nx_match_warns(healthy: sa.Engine) -> None:
    report_switch(healthy, fragments="normal")
    check = checks(healthy)["switch edge1 (0x1)"]
    assert check.status == "warn" and "'normal'" in check.detail


def test_unregistered_switch_seen_by_a_controller_warns(healthy: sa.Engine) -> None:
    report_switch(healthy, 0xBEEF)
    check = checks(healthy)["unregistered switches"]
    assert check.status == "warn" and "0xbeef (seen by ctl-a)" in check.detail
    assert "op25b switch add" in check.fix


# --------------------------------------------------------------------------- quarantine


def _quarantine(engine: sa.Engine, text: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE controller_status SET quarantine = :q"), {"q": text})


def test_no_quarantine_reported_is_ok(healthy: sa.Engine) -> None:
    check = checks(healthy)["quarantine"]
    assert check.status == "ok" and "no controller reported quarantined rows" in check.detail


def test_quarantined_rows_warn_with_the_first_rows(healthy: sa.Engine) -> None:
    rows = [{"table": "attachments", "row": i, "field": "prefix", "value": f"10.0.0.{i}/33",
             "reason": "not a prefix"} for i in range(5)]
    _quarantine(healthy, json.dumps({"revision": 9, "rows": rows, "total": 7}))
    check = checks(healthy)["quarantine ctl-a"]
    assert check.status == "warn"
    assert check.detail.startswith("7 row(s) left out of revision 9: attachments 0 prefix=")
    assert "10.0.0.2/33" in check.detail and "10.0.0.3/33" not in check.detail
    assert check.detail.endswith("and 4 more")
    _quarantine(healthy, json.dumps({"revision": 10, "rows": [], "total": 0}))
    assert checks(healthy)["quarantine ctl-a"].status == "ok"


# --------------------------------------------------------------------------- metrics, TLS


@pytest.fixture
def metrics_url(tmp_path: Path) -> Iterator[str]:
    """A /metrics endpoint in its own process (``python -m http.server``).

    Not a server thread in this process: other tests import the Ryu app,
    whose eventlet monkey-patching makes a threaded server here hang.
    """
    (tmp_path / "metrics").write_text(
        "# HELP op25b_switches_connected x\nop25b_switches_connected 1.0\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", str(tmp_path), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "http.server down"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(10)


def test_metrics_endpoint(metrics_url: str) -> None:
    assert check_metrics(metrics_url, 3).status == "ok"
    closed = check_metrics("http://127.0.0.1:1/metrics", 3)
    assert closed.status == "warn" and "does not answer" in closed.detail


def _conf(tmp_path: Path, **keys: str) -> Path:
    path = tmp_path / "controller.conf"
    lines = ["[DEFAULT]", "ofp_tcp_listen_port = 6653", *(f"{k} = {v}" for k, v in keys.items()),
             "[op25b]", "db = sqlite:///op25b.db"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tls_settings(tmp_path: Path) -> None:
    files = {}
    for key in ("ctl_privkey", "ctl_cert", "ca_certs"):
        files[key] = str(tmp_path / f"{key}.pem")
        Path(files[key]).write_text("x")
    assert check_tls(_conf(tmp_path)).status == "warn"
    assert check_tls(_conf(tmp_path, **files)).status == "ok"
    without_ca = {k: v for k, v in files.items() if k != "ca_certs"}
    assert "any switch may connect" in check_tls(_conf(tmp_path, **without_ca)).detail
    assert check_tls(_conf(tmp_path, ctl_privkey=files["ctl_privkey"])).status == "warn"
    missing = check_tls(_conf(tmp_path, **{**files, "ca_certs": "/nonexistent/ca.pem"}))
    assert missing.status == "fail" and "/nonexistent/ca.pem" in missing.detail
    assert check_tls(tmp_path / "absent.conf").status == "warn"


def test_shipped_example_config_warns_until_tls_is_configured() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "etc" / "op25b" / "controller.conf"
    check = check_tls(example)
    assert check.status == "warn" and "not encrypted" in check.detail


def test_all_ok_exits_0(healthy: sa.Engine, metrics_url: str, tmp_path: Path) -> None:
    files = {}
    for key in ("ctl_privkey", "ctl_cert", "ca_certs"):
        files[key] = str(tmp_path / f"{key}.pem")
        Path(files[key]).write_text("x")
    settings = DoctorSettings(metrics_url=metrics_url, controller_config=_conf(tmp_path, **files))
    report = run_doctor(healthy, settings)
    assert report.exit_status == 0, report.checks
    assert report.to_dict()["status"] == "ok"
