"""The Grafana dashboard only queries metrics the controller really exports.

A quick check of names only: a query can name real metrics and still return
nothing (a counter with no series yet, a wrong label match). Whether every
panel query returns numbers is tests/lab/test_lab_prometheus.py's check,
which evaluates each one in a real Prometheus scraping a real controller.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from op25b_app.openflow.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-op25b.json"


def test_dashboard_queries_exported_metric_names():
    exported = set()
    for family in Metrics().registry.collect():
        for sample in family.samples:
            exported.add(sample.name)
        exported.add(family.name)
        exported.add(family.name + "_total")
    dash = json.loads(DASHBOARD.read_text())
    used = {name for panel in dash["panels"] for target in panel["targets"]
            for name in re.findall(r"op25b_[a-z_]+", target["expr"])}
    assert used and used <= exported, used - exported
