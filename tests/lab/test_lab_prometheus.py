"""Prometheus for real: Debian's prometheus scrapes a live op25b-controller that
serves the example lab, and every PromQL expression op25b ships is evaluated
through Prometheus's HTTP API.

* every Grafana panel query (docs/grafana-op25b.json) must return data, and
  numbers rather than NaN (a panel that shows "No data" on a healthy ISP is
  a broken panel);
* every alert expression (deploy/prometheus/op25b-alerts.yml) must be valid
  and evaluable, the series it reads must exist (a misspelt metric would make
  an alert that can never fire), and Prometheus itself must report each rule
  healthy after evaluating it.

Blocked SYNs and a policy change are made after Prometheus has started, so
the counters and the change-latency histogram have something to rate.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab import labkit, scenario
from tests.lab.test_lab_abuse import send_syns
from tests.lab.test_lab_live import ext, until_tcp
from topologies.isp import EDGE_DPID, HOSTS_BY_NAME

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs" / "grafana-op25b.json"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "op25b-alerts.yml"
#: Metrics an alert may name before the controller exports them (none today:
#: a name added here must have no series, and the test says when it appears).
NOT_EXPORTED_YET: set[str] = set()
#: Labelled counters that have no series until their first event (a healthy lab
#: may have no OpenFlow error): for these the controller's exposition must
#: name the family (# HELP/# TYPE), which Prometheus keeps as target metadata.
EVENT_COUNTERS = {"op25b_openflow_errors_total"}
_METRIC = re.compile(r"\b(op25b_[a-z0-9_]+|up)\b")


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


class Prometheus:
    """Debian's prometheus scraping one controller every second."""

    def __init__(self, metrics_port: int, workdir: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise labkit.LabUnavailable("prometheus not found: run scripts/bootstrap "
                                        "(Debian package 'prometheus')")
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(RULES)]
        [job] = config["scrape_configs"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_port}"]}]
        path = workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.port = labkit.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        labkit.wait_for(self._ready, 60, what="prometheus to be ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise labkit.LabUnavailable(f"prometheus exited:\n{self.log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def exported(self, name: str) -> bool:
        """Whether the controller's exposition names ``name`` (even without samples).

        Prometheus keeps a counter's metadata under the family name, without ``_total``.
        """
        family = name.removesuffix("_total")
        return bool(self.api("targets/metadata", match_target='{job="op25b-controller"}',
                             metric=family))

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result as a list of samples (a scalar as one)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def observed(lab_ready):
    """The example lab under a real controller, scraped by a real Prometheus,
    after blocked traffic and a policy change."""
    with labkit.example_lab() as live:
        prom = Prometheus(live.controller.metrics_port, live.workdir)
        try:
            labkit.wait_for(lambda: prom.query('up{job="op25b-controller"} == 1'), 30,
                            what="the first scrape of the controller")
            until_tcp(live.lab, "bb1", ext(), 25, labkit.TIMEOUT)
            send_syns(live, "bb1", "ext", 4, 40)
            # A change while Prometheus watches: the change-latency histogram moves.
            new1 = HOSTS_BY_NAME["new1"]
            scenario.op25b(live.db_url, "subscriber", "add", "--account", "BB-PROM",
                           "--name", "new line", "--type", "broadband",
                           "--attach", f"{EDGE_DPID}:{new1.port}")
            labkit.wait_for(lambda: prom.query("op25b_change_to_enforced_seconds_count >= 2"),
                            60, what="the change to be enforced and scraped")
            time.sleep(3)
            send_syns(live, "bb1", "ext", 6, 40)
            labkit.wait_for(
                lambda: prom.query('increase(op25b_subscriber_blocked_packets_total'
                                   '{account="BB-0001"}[1m]) > 0'),
                60, what="blocked SYNs counted and scraped")
            yield prom
        finally:
            prom.stop()
            print(f"--- prometheus log ---\n{prom.log_path.read_text()[-4000:]}")


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_every_dashboard_query_returns_numbers(observed: Prometheus, expr: str) -> None:
    result = observed.query(expr)
    assert result, f"no data for {expr}"
    for sample in result:
        value = float(sample["value"][1])
        assert not math.isnan(value), f"{expr}: NaN for {sample['metric']}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_expression_is_evaluable_on_existing_series(observed: Prometheus,
                                                                 rule: dict) -> None:
    expr = rule["expr"]
    observed.query(expr)  # valid and evaluable: a query error fails in api()
    for name in set(_METRIC.findall(expr)):
        if name in NOT_EXPORTED_YET:
            assert observed.query(name) == [], f"{name} exists now: drop it from the list"
            continue
        if name in EVENT_COUNTERS and not observed.query(name):
            assert observed.exported(name), f"{name} is not exported by the controller"
            continue
        assert observed.query(name), f"alert {rule['alert']} reads {name}, which has no series"


def test_prometheus_evaluates_every_rule_healthy(observed: Prometheus) -> None:
    def evaluated() -> list[dict]:
        rules = [r for g in observed.api("rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("20")
                                      for r in rules) else []

    rules = labkit.wait_for(evaluated, 30, what="every rule to be evaluated")
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    for rule in rules:
        assert rule["health"] == "ok", rule
    firing = {r["name"] for r in rules if r["state"] == "firing"}
    # A healthy lab: nothing is down, out of sync, or spiking past 300 in 10 minutes.
    assert firing <= {"Op25bOpenFlowErrors"}, firing
