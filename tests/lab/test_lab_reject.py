"""Fast-fail: blocked SYNs answered with a RST, sampled headers for the abuse desk."""

from __future__ import annotations

import json

import pytest

from tests.lab import labkit
from tests.lab.test_lab_live import ext, op

CAP = 30


@pytest.fixture(scope="module")
def reject(lab_ready):
    with labkit.example_lab(extra_args=["--op25b-block-action", "reject", "--op25b-sample-rate", "50"]) as lab:
        yield lab


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("src", ["bb1", "new1"])
def test_blocked_connect_is_refused_at_once_and_never_reaches_the_server(reject, src, family):
    lab = reject.lab
    with lab.capture("ext", f"tcp dst port 25 and src host {labkit.ip_of(src, family)}") as seen:
        # Refused within the probe's 1 s timeout: a RST came back, not silence.
        assert lab.tcp(src, ext(family), 25, timeout=1.0) == labkit.REFUSED
    assert seen == [], seen
    # Everything else is untouched.
    assert lab.tcp(src, ext(family), 587) == labkit.CONNECTED


def test_sampled_destinations_appear_in_the_suspects_report(reject):
    lab = reject.lab
    for _ in range(3):
        lab.tcp("bb1", ext(), 25, timeout=1.0)

    def sampled():
        rows = json.loads(op(reject, "report", "suspects", "--threshold", "0", "--json"))
        row = next((r for r in rows if r["account"] == "BB-0001"), None)
        if row and row["packets"] >= 3 and any(d.startswith(ext()) for d in row["destinations"]):
            return row
        return None

    labkit.wait_for(sampled, CAP, what="BB-0001's attempts and sampled destination")
    text = op(reject, "report", "suspects", "--threshold", "0")
    assert ext() in text


def test_punt_meter_is_installed_and_entries_use_it(reject):
    meters = labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", "op25e1"]).stdout
    assert "meter=25" in meters and "pktps" in meters and "rate=50" in meters, meters
    flows = labkit.dump_flows("op25e1")
    assert any("meter:25" in f and "CONTROLLER" in f for f in flows), flows


def test_monitor_mode_forwards_the_mail_and_samples_a_copy(reject):
    lab = reject.lab
    op(reject, "enforcement", "set", "--mode", "monitor")
    labkit.wait_for(lambda: lab.tcp("bb1", ext(), 25, timeout=1.0) == labkit.CONNECTED, CAP,
                    interval=0.3, what="monitor mode")
    with lab.capture("ext", f"tcp dst port 25 and src host {labkit.ip_of('bb1', 4)}") as seen:
        for _ in range(3):
            assert lab.tcp("bb1", ext(), 25) == labkit.CONNECTED  # never refused or delayed
    assert any("Flags [S]" in p for p in seen)

    def sampled():
        rows = json.loads(op(reject, "report", "affected", "--json"))
        row = next((r for r in rows if r["account"] == "BB-0001"), None)
        return row if row and any(d.startswith(ext()) for d in row["destinations"]) else None

    labkit.wait_for(sampled, CAP, what="a sampled copy in the affected report")
    flows = labkit.dump_flows("op25e1")
    assert any("write_metadata" in f and "goto_table:1" in f for f in flows), flows
    assert any("table=1" in f and "meter:25" in f for f in flows), flows
    op(reject, "enforcement", "set", "--mode", "enforce")
