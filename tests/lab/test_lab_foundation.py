"""The ground everything stands on: real controller, real OVS, real TCP."""

from __future__ import annotations

import signal
import time

import pytest

from tests.lab import labkit, scenario
from topologies.isp import CORE_SWITCH, EDGE_SWITCH


@pytest.mark.parametrize("bridge", [EDGE_SWITCH, CORE_SWITCH])
def test_bridge_is_connected_to_the_controller(example_lab, bridge):
    assert labkit.switch_connected(bridge)
    fail_mode = labkit.run(["ovs-vsctl", "get", "bridge", bridge, "fail_mode"]).stdout.strip()
    assert fail_mode == "secure"
    datapath = labkit.run(["ovs-vsctl", "get", "bridge", bridge, "datapath_type"]).stdout.strip()
    assert datapath == "netdev"


@pytest.mark.parametrize("family", [4, 6])
def test_ping_between_lab_hosts(example_lab, family):
    lab = example_lab.lab
    assert labkit.wait_for(lambda: lab.ping("bb1", labkit.ip_of("web", family)), 20,
                           interval=0.5, what=f"ping IPv{family} bb1 -> web")
    assert lab.ping("du1", labkit.ip_of("bb1", family))


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_between_lab_hosts(example_lab, family):
    lab = example_lab.lab
    assert lab.tcp("bb1", labkit.ip_of("web", family), 80) == labkit.CONNECTED
    # A closed port answers with RST: the probe tells refused from timed out.
    assert lab.tcp("bb1", labkit.ip_of("web", family), 81) == labkit.REFUSED


def test_controller_installed_its_entries(example_lab):
    flows = labkit.dump_flows(EDGE_SWITCH)
    assert any("priority=0" in f and "actions=NORMAL" in f for f in flows), flows
    assert "ERROR" not in example_lab.controller.log()


def test_controller_version_names_op25b_and_ryu():
    out = labkit.run([str(labkit.VENV_BIN / "op25b-controller"), "--version"]).stdout
    assert out.startswith("op25b ") and "(ryu 4.34)" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_controller_idles_without_switches_and_stops_with_status_0(lab_ready, tmp_path, sig):
    db_url = f"sqlite:///{tmp_path / 'op25b.db'}"
    scenario.op25b(db_url, "db", "init")
    ctl = labkit.ControllerProcess(db_url, tmp_path).start()
    time.sleep(2)  # idle: polling the database, no switch connected
    assert ctl.proc.poll() is None
    assert ctl.stop(sig) == 0
    assert "Traceback" not in ctl.log()
