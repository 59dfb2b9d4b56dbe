"""Rollout and abuse desk in the lab: monitor mode, scheduled enforcement, exact
counters from crafted SYNs, the affected and suspects reports, metrics."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

from tests.lab import labkit
from tests.lab.test_lab_live import ext, op, until_tcp

CAP = 30
SCAPY_SYNS = r"""
import sys
from scapy.all import Ether, IP, IPv6, TCP, sendp
iface, src_mac, dst_mac, src, dst, count = sys.argv[1:7]
ip = IPv6(src=src, dst=dst) if ":" in dst else IP(src=src, dst=dst)
# Distinct source ports: each is a fresh SYN, none a retransmission.
frames = [Ether(src=src_mac, dst=dst_mac) / ip / TCP(sport=20000 + i, dport=25, flags="S",
                                                     seq=1000 + i)
          for i in range(int(count))]
sendp(frames, iface=iface, verbose=False)
print(len(frames))
"""


@pytest.fixture(scope="module")
def abuse(lab_ready):
    with labkit.example_lab(extra_args=None) as lab:
        yield lab


def send_syns(live, src: str, dst: str, family: int, count: int) -> None:
    lab = live.lab
    script = live.workdir / "syns.py"
    script.write_text(SCAPY_SYNS)
    host, target = lab.host(src), lab.host(dst)
    out = host.cmd(f"{labkit.VENV_BIN / 'python'} {script} {host.defaultIntf().name} "
                   f"{host.MAC()} {target.MAC()} {labkit.ip_of(src, family)} "
                   f"{labkit.ip_of(dst, family)} {count}")
    assert out.strip().splitlines()[-1] == str(count), out


def report(live, *args: str) -> list[dict]:
    return json.loads(op(live, "report", *args, "--json"))


def packets_of(rows: list[dict], account: str) -> int:
    return sum(r["packets"] for r in rows if r["account"] == account)


def test_monitor_until_the_scheduled_date_then_enforce(abuse):
    lab = abuse.lab
    start = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(seconds=15)
    op(abuse, "enforcement", "set", "--mode", "monitor", "--at", start.isoformat())
    # Monitoring: the mail passes (nobody is cut off before the announced date) ...
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    assert lab.tcp("new1", ext(6), 25) == labkit.CONNECTED
    assert lab.tcp("du1", ext(), 25) == labkit.CONNECTED
    # ... but is counted per subscriber: the notice list before enforcement.
    def both_counted():
        rows = report(abuse, "affected")
        ok = packets_of(rows, "BB-0001") > 0 and packets_of(rows, "(unregistered sender)") > 0
        return rows if ok else None

    # Counters are read every second: wait for the poll that saw both senders.
    rows = labkit.wait_for(both_counted, CAP, what="BB-0001 and new1 in the affected report")
    assert packets_of(rows, "DU-0001") == 0 and packets_of(rows, "BB-0002") == 0
    csv = op(abuse, "report", "affected", "--csv")
    assert csv.splitlines()[0].startswith("account,") and "BB-0001" in csv
    # At the scheduled time the controller switches to enforcement by itself.
    labkit.wait_for(lambda: dt.datetime.now(dt.timezone.utc) > start, CAP, what="start date")
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)
    assert lab.tcp("bb1", ext(), 587) == labkit.CONNECTED
    assert "policy changes by time" in abuse.controller.log()


def test_counters_equal_the_raw_syns_sent_and_suspects_report(abuse):
    lab = abuse.lab
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)  # enforcing since the start time

    def settled_total() -> int:
        first = packets_of(report(abuse, "suspects", "--threshold", "0"), "BB-0001")
        time.sleep(2.5)  # more than two counter polls (1 s) with nothing new
        second = packets_of(report(abuse, "suspects", "--threshold", "0"), "BB-0001")
        return second if first == second else -1

    before = labkit.wait_for(lambda: (v := settled_total()) >= 0 and (v,), CAP,
                             what="counters to settle")[0]
    send_syns(abuse, "bb1", "ext", 4, 37)
    send_syns(abuse, "bb1", "ext", 6, 13)
    send_syns(abuse, "new1", "ext", 4, 2)  # a quiet one
    labkit.wait_for(
        lambda: packets_of(report(abuse, "suspects", "--threshold", "0"), "BB-0001") >= before + 50,
        CAP, what="the crafted SYNs counted")
    time.sleep(2.5)
    assert packets_of(report(abuse, "suspects", "--threshold", "0"), "BB-0001") == before + 50
    loud = report(abuse, "suspects", "--window", "1h", "--threshold", "40")
    accounts = [r["account"] for r in loud]
    assert "BB-0001" in accounts and "(unregistered sender)" not in accounts


def test_metrics_endpoint_reports_the_controller(abuse):
    text = abuse.controller.metrics()
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(op25b_\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    assert values["op25b_switches_connected"] == 2
    edge = "0000000000000001"
    assert values[f'op25b_switch_entries{{dpid="{edge}"}}'] > 10
    assert values[f'op25b_policy_revision_applied{{dpid="{edge}"}}'] == \
        values["op25b_policy_revision_database"]
    assert values[f'op25b_blocked_packets_total{{dpid="{edge}",mode="enforce"}}'] >= 50
    assert values['op25b_subscriber_blocked_packets_total{account="BB-0001",mode="enforce"}'] >= 50
    assert values["op25b_change_to_enforced_seconds_count"] >= 1
