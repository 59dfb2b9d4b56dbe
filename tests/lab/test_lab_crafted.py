"""The data plane against a customer who crafts packets: the server's capture judges.

A blocked broadband host sends every probe class of ``tests/lab/crafted.py``
(fragments down to 8 bytes, out of order, overlapping, IPv4 options, IPv6
extension headers, one and two VLAN tags) to the external mail server's port
25, and the same to 587 as a control. tcpdump on the server records what
arrives and what the server's TCP answers; the test reads the capture with
scapy and holds each probe to ``crafted.EXPECT``. An exempt customer's
fragmented mail must still be answered, and the same probes are repeated on a
switch whose pass action is ``goto:1`` (another application forwards there).
"""

from __future__ import annotations

import json
import struct
import subprocess
import time
from pathlib import Path

import pytest

from op25b_app.core import constants
from tests.lab import crafted, labkit, ofctl_parse
from tests.lab.test_lab_abuse import packets_of, report
from topologies.isp import CORE_SWITCH, EDGE_SWITCH, HOSTS_BY_NAME

REPO = Path(__file__).resolve().parents[2]
EXT = HOSTS_BY_NAME["ext"]
CAP = 30


def send_probes(ex: labkit.ExampleLab, src: str, classes: list[str]) -> list[dict]:
    """Send ``classes`` from host ``src`` to ext (ports 25 and 587); the manifest."""
    lab = ex.lab
    host, target = lab.host(src), lab.host("ext")
    cmd = [str(labkit.VENV_BIN / "python"), "-m", "tests.lab.crafted",
           host.defaultIntf().name, host.MAC(), target.MAC(), labkit.ip_of(src, 4), EXT.ip4,
           labkit.ip_of(src, 6), EXT.ip6, "--classes", ",".join(classes)]
    out = host.cmd(f"cd {REPO} && " + " ".join(cmd))
    return json.loads(out.strip().splitlines()[-1])


def _tcp_ports(payload: bytes, next_header: int, v6: bool) -> tuple[int, int] | None:
    """(sport, dport) of a TCP header at the start of a datagram, through IPv6
    extension headers; None for a later fragment or no TCP header."""
    offset = 0
    while v6 and next_header in (0, 43, 44, 60):
        if len(payload) < offset + 8:
            return None
        following = payload[offset]
        if next_header == 44:
            frag_offset = struct.unpack_from("!H", payload, offset + 2)[0] >> 3
            if frag_offset:
                return None
            length = 8
        else:
            length = (payload[offset + 1] + 1) * 8
        next_header, offset = following, offset + length
    if next_header != 6 or len(payload) < offset + 4:
        return None
    sport, dport = struct.unpack_from("!HH", payload, offset)
    return sport, dport


def judge(pcap: Path) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """What the server's wire shows: TCP headers that arrived (sport, dport) and
    SYN-ACKs the server sent (its port, the probe's port)."""
    from scapy.all import IP, TCP, IPv6, rdpcap

    arrived: set[tuple[int, int]] = set()
    answered: set[tuple[int, int]] = set()
    for frame in rdpcap(str(pcap)):
        if IP in frame:
            ip = frame[IP]
            if ip.src == EXT.ip4 and TCP in ip and ip[TCP].flags & 0x12 == 0x12:
                answered.add((ip[TCP].sport, ip[TCP].dport))
            elif ip.dst == EXT.ip4 and ip.frag == 0 and ip.proto == 6:
                ports = _tcp_ports(bytes(ip.payload), 6, False)
                if ports:
                    arrived.add(ports)
        elif IPv6 in frame:
            ip6 = frame[IPv6]
            if ip6.src == EXT.ip6 and TCP in ip6 and ip6[TCP].flags & 0x12 == 0x12:
                answered.add((ip6[TCP].sport, ip6[TCP].dport))
            elif ip6.dst == EXT.ip6:
                ports = _tcp_ports(bytes(ip6.payload), ip6.nh, True)
                if ports:
                    arrived.add(ports)
    return arrived, answered


def probe_and_judge(ex: labkit.ExampleLab, src: str, classes: list[str]) -> list[tuple]:
    """Send the probes with the server's capture running; each probe with what happened."""
    pcap = ex.workdir / f"crafted-{src}-{time.monotonic_ns()}.pcap"
    ext = ex.lab.host("ext")
    intf = ext.defaultIntf().name
    proc = ext.popen(["tcpdump", "-i", intf, "-nn", "-U", "-w", str(pcap)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "listening" in proc.stderr.readline()
    time.sleep(0.5)
    try:
        manifest = send_probes(ex, src, classes)
        time.sleep(2.0)  # answers, retransmitted SYN-ACKs, reassembly timers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    arrived, answered = judge(pcap)
    results = []
    for probe in manifest:
        key = (probe["sport"], probe["dport"])
        got_answer = (probe["dport"], probe["sport"]) in answered
        results.append((probe["name"], probe["dport"], key in arrived, got_answer))
    return results


def expected_ok(expect: str, reached: bool, answered: bool) -> bool:
    if expect == crafted.BLOCKED:
        return not reached and not answered
    if expect == crafted.ANSWERED:
        return reached and answered
    return reached


def assert_matrix(results: list[tuple], expect_of) -> None:  # noqa: ANN001
    wrong = [f"{name} -> {dport}: expected {expect_of(name, dport)}, "
             f"reached={reached} answered={answered}"
             for name, dport, reached, answered in results
             if not expected_ok(expect_of(name, dport), reached, answered)]
    assert not wrong, "\n".join(wrong)


def blocked_customer_expectation(name: str, dport: int) -> str:
    return crafted.EXPECT[name][0 if dport == 25 else 1]


@pytest.fixture(scope="module")
def crafted_lab(lab_ready):
    with labkit.example_lab() as ex:
        yield ex


def test_no_crafted_probe_from_a_blocked_customer_reaches_port_25(crafted_lab):
    ex = crafted_lab
    results = probe_and_judge(ex, "bb1", list(crafted.EXPECT))
    assert_matrix(results, blocked_customer_expectation)
    assert len(results) == 2 * len(crafted.EXPECT)


def test_an_exempt_customers_fragmented_mail_still_passes(crafted_lab):
    ex = crafted_lab
    for host in ("bb2", "du1"):  # opt-out by address; dial-up by connection type
        results = [r for r in probe_and_judge(ex, host, list(crafted.EXEMPT_EXPECT))
                   if r[1] == 25]
        assert_matrix(results, lambda name, _dport: crafted.EXEMPT_EXPECT[name])


def test_fragmented_syns_are_counted_for_the_subscriber_and_the_guard(crafted_lab):
    ex = crafted_lab
    before = packets_of(report(ex, "suspects", "--threshold", "0"), "BB-0001")
    full_header = ["v4_frag_full_header", "v6_frag_full_header", "v4_frag_out_of_order",
                   "v6_frag_out_of_order"]
    probe_and_judge(ex, "bb1", full_header + ["v4_tiny_8", "double_8100_v4"])
    # Each fragmented SYN's first fragment met BB-0001's own entry.
    labkit.wait_for(lambda: packets_of(report(ex, "suspects", "--threshold", "0"),
                                       "BB-0001") >= before + len(full_header),
                    CAP, what="BB-0001's fragmented SYNs counted")
    # The tiny fragments and the double tag met the guard band, which counts them.
    flows = [ofctl_parse.parse_line(line) for line in labkit.dump_flows(EDGE_SWITCH)]
    guard = [f for f in flows if constants.band_of(f.cookie) == constants.Band.GUARD]
    tiny = sum(f.n_packets for f in guard if dict(f.match).get("ip_frag") == "first")
    tagged = sum(f.n_packets for f in guard if dict(f.match).get("eth_type") == 0x8100)
    assert tiny > 0 and tagged > 0, guard


@pytest.fixture(scope="module")
def goto_lab(lab_ready):
    with labkit.example_lab(extra_args=["--op25b-pass-action", "goto:1"]) as ex:
        # The other application that forwards in table 1.
        for bridge in (EDGE_SWITCH, CORE_SWITCH):
            labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", bridge,
                        "table=1,priority=0,actions=NORMAL"])
        labkit.wait_for(lambda: ex.lab.tcp("bb1", EXT.ip4, 587) == labkit.CONNECTED, CAP,
                        what="587 through table 1")
        yield ex


def test_the_same_probes_hold_with_a_goto_pass_action(goto_lab):
    results = probe_and_judge(goto_lab, "bb1", list(crafted.EXPECT))
    assert_matrix(results, blocked_customer_expectation)
    flows = labkit.dump_flows(EDGE_SWITCH)
    assert any("goto_table:1" in line for line in flows)
