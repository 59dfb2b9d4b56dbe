"""``op25b doctor``: one question, "what is wrong?", answered one line per check.

The checks an operator would otherwise run by hand across four tools: is the
database there and its schema current, is this host's clock near the
database's, is every controller alive and at the database's policy revision,
is every registered switch connected, in sync and under capacity, did a
controller see a switch nobody registered or quarantine malformed rows, does
the metrics endpoint answer, and is the OpenFlow channel encrypted.

The worst status decides the exit status (``EXIT_STATUS``): 0 all ok, 1 a
warning, 2 a failure, so monitoring can run ``op25b doctor`` as a probe. The
database checks are pure functions of the rows (``doctor_checks``); this
module adds what needs the network or the file system, and never lets one
failing check hide the others.
"""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from op25b_app.db import migrate
from op25b_app.db.engine import read_connection, safe_url
from op25b_app.db.models import utc_now
from op25b_app.service.doctor_checks import FAIL, OK, STATUSES, WARN, Check, database_checks
from op25b_app.service.doctor_facts import database_now, read_facts
from op25b_app.service.transactions import first_line

#: The controller writes its heartbeat every 5 s (--op25b-status-interval):
#: three missed heartbeats make it stale.
DEFAULT_STALE_AFTER = 15.0
#: A revision not loaded (or applied) within this long is stuck, not in progress.
DEFAULT_STUCK_AFTER = 60.0
#: Clock skew between this host and the database worth a warning.
DEFAULT_MAX_SKEW = 2.0
DEFAULT_METRICS_URL = "http://127.0.0.1:9325/metrics"
DEFAULT_CONTROLLER_CONFIG = Path("/etc/op25b/controller.conf")
EXIT_STATUS = {OK: 0, WARN: 1, FAIL: 2}
_TLS_KEYS = ("ctl_privkey", "ctl_cert", "ca_certs")


@dataclasses.dataclass(frozen=True)
class DoctorSettings:
    """Thresholds and where to look; the defaults fit the shipped units."""

    stale_after: float = DEFAULT_STALE_AFTER
    stuck_after: float = DEFAULT_STUCK_AFTER
    max_skew: float = DEFAULT_MAX_SKEW
    #: The controller's /metrics; None skips the check.
    metrics_url: str | None = DEFAULT_METRICS_URL
    #: The controller's oslo.config file (TLS options); None skips the check.
    controller_config: Path | None = DEFAULT_CONTROLLER_CONFIG
    timeout: float = 3.0


@dataclasses.dataclass(frozen=True)
class DoctorReport:
    """All checks, in the order shown, and what they add up to."""

    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return max((c.status for c in self.checks), key=STATUSES.index, default=OK)

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "exit_status": self.exit_status,
                "checks": [c.to_dict() for c in self.checks]}


def run_doctor(engine: Engine, settings: DoctorSettings = DoctorSettings(), *,
               clock: Callable[[], dt.datetime] = utc_now) -> DoctorReport:
    """Run every check against ``engine`` and this host."""
    checks = check_database(engine)
    if checks[-1].status == OK:
        checks.append(check_clock(engine, clock, settings.max_skew))
        try:
            checks += database_checks(read_facts(engine), settings.stale_after,
                                      settings.stuck_after)
        except SQLAlchemyError as error:
            checks.append(Check(FAIL, "database", f"reading the status rows failed: "
                                f"{first_line(error)}", "run again; if it persists, "
                                "check the database's log"))
    if settings.metrics_url:
        checks.append(check_metrics(settings.metrics_url, settings.timeout))
    if settings.controller_config is not None:
        checks.append(check_tls(settings.controller_config))
    return DoctorReport(tuple(checks))


def check_database(engine: Engine) -> list[Check]:
    """Reachable, and at the schema this op25b needs (else the rest is not asked)."""
    shown = safe_url(engine.url)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" \
            and not Path(database).exists():
        # Connecting would create an empty file: say what is missing instead.
        return [Check(FAIL, "database", f"{shown}: the file does not exist",
                      "check --db/$OP25B_DB, or create it with op25b db init")]
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as error:
        return [Check(FAIL, "database", f"{shown} unreachable: {first_line(error)}",
                      "check the URL, the server (systemctl status postgresql) and the "
                      "credentials")]
    head = migrate.head_revision()
    if current != head:
        return [Check(FAIL, "database", f"{shown}: schema at {current or 'empty'}, this op25b "
                      f"needs {head}; the other database checks need it",
                      "op25b db upgrade" if current else "op25b db init")]
    return [Check(OK, "database", f"{shown} reachable, schema {head} current")]


def check_clock(engine: Engine, clock: Callable[[], dt.datetime], max_skew: float) -> Check:
    """This host's UTC clock against the database's (heartbeat ages rely on both)."""
    try:
        with read_connection(engine) as conn:
            before = time.monotonic()
            local = clock()
            remote = database_now(conn)
            round_trip = time.monotonic() - before
    except SQLAlchemyError as error:
        return Check(WARN, "clock", f"the database's time could not be read: "
                     f"{first_line(error)}")
    # The database read its clock somewhere within the round trip.
    skew = round((remote - local).total_seconds() - round_trip / 2, 1) + 0.0
    detail = f"database clock {skew:+.1f} s from this host's"
    if abs(skew) > max_skew:
        return Check(WARN, "clock", f"{detail} (limit {max_skew:g} s): heartbeat ages and "
                     "opt-out expiries disagree between hosts",
                     "synchronise both hosts with NTP (timedatectl status)")
    return Check(OK, "clock", detail)


def check_metrics(url: str, timeout: float) -> Check:
    """The controller's Prometheus endpoint answers with op25b's series."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Check(WARN, "metrics", f"{url} does not answer: {reason}",
                     "check --op25b-metrics-listen of the controller, or give --metrics URL")
    series = sum(1 for line in body.splitlines() if line.startswith("op25b_"))
    if not series:
        return Check(WARN, "metrics", f"{url} answers without op25b series",
                     "point --metrics at op25b-controller's endpoint")
    return Check(OK, "metrics", f"{url} answers ({series} op25b samples)")


def check_tls(path: Path) -> Check:
    """Whether the controller's OpenFlow channel is encrypted and authenticated."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text(), str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        return Check(WARN, "tls", f"controller config {path} not readable: {error}",
                     "give the controller's config file with --controller-config FILE")
    found = {key: parser.defaults().get(key, "").strip().strip("\"'") for key in _TLS_KEYS}
    given = {k: v for k, v in found.items() if v}
    if not given:
        return Check(WARN, "tls", f"{path}: the OpenFlow channel is not encrypted (no "
                     "ctl_privkey/ctl_cert/ca_certs)",
                     f"set ctl_privkey, ctl_cert and ca_certs in [DEFAULT] of {path}")
    missing_files = [f"{k} {v}" for k, v in given.items() if not Path(v).is_file()]
    if missing_files:
        return Check(FAIL, "tls", f"{path}: {', '.join(missing_files)}: no such file "
                     "(the controller will not start)", "install the files or correct the paths")
    if "ctl_privkey" not in given or "ctl_cert" not in given:
        return Check(WARN, "tls", f"{path}: only {', '.join(given)} set: Ryu needs "
                     "ctl_privkey and ctl_cert for TLS, so the channel is plain TCP",
                     "set both ctl_privkey and ctl_cert")
    if "ca_certs" not in given:
        return Check(WARN, "tls", f"{path}: TLS without ca_certs: any switch may connect",
                     "set ca_certs to the CA that signs the switches' certificates")
    return Check(OK, "tls", f"{path}: TLS with switch certificates from {given['ca_certs']}")
