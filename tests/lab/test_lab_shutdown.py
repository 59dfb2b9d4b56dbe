"""SIGTERM stops the controller in order, whatever green thread it lands in.

A signal handler runs in whichever green thread happens to be running; a
KeyboardInterrupt raised there used to kill only that thread (the counter
poll, a flow-stats parse) and the controller kept running. Here a real
controller serves a real bridge with 10,000 entries, counter polls and
reconcile passes every fraction of a second, and is sent SIGTERM at 20
random moments of its life: each time it must exit with status 0 within 5 s
and leave no "uncaught exception" behind.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab import labkit

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts import isp_dataset  # noqa: E402

BRIDGE = "op25sig0"
DPID = 0x25C0
ENTRIES = 10_000
RUNS = 20
EXIT_LIMIT_S = 5.0


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def loaded_db(lab_ready, tmp_path_factory):
    from op25b_app.db.engine import make_engine
    from op25b_app.db.migrate import upgrade

    workdir = tmp_path_factory.mktemp("shutdown")
    url = f"sqlite:///{workdir}/op25b.db"
    engine = make_engine(url)
    upgrade(engine)
    isp_dataset.populate_single_switch(engine, DPID, ENTRIES)
    engine.dispose()
    labkit.cleanup_stale()
    _sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev",
        "fail_mode=secure", "protocols=OpenFlow13", f"other-config:datapath-id={DPID:016x}")
    try:
        yield url, workdir
    finally:
        _sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)


def test_sigterm_at_random_moments_under_load_exits_zero_in_time(loaded_db):
    url, workdir = loaded_db
    rng = random.Random()
    moments: list[float] = []
    for run in range(RUNS):
        ctl = labkit.ControllerProcess(
            url, workdir, extra_args=["--op25b-stats-interval", "0.3",
                                      "--op25b-reconcile-interval", "0.7",
                                      "--op25b-status-interval", "0.5"]).start()
        _sh("ovs-vsctl", "set-controller", BRIDGE, f"tcp:127.0.0.1:{ctl.port}")
        # Anywhere from the connect and first install (read-back of 10k
        # entries, compile) to steady counter polls and reconcile passes.
        moment = rng.uniform(0.0, 4.0)
        moments.append(round(moment, 2))
        time.sleep(moment)
        assert ctl.proc is not None
        sent = time.monotonic()
        ctl.proc.send_signal(signal.SIGTERM)
        try:
            code = ctl.proc.wait(timeout=EXIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            ctl.stop(signal.SIGKILL)
            pytest.fail(f"run {run}: SIGTERM {moment:.2f} s after start not obeyed in "
                        f"{EXIT_LIMIT_S} s (moments so far {moments}):\n{ctl.log()[-3000:]}")
        took = time.monotonic() - sent
        ctl.stop()
        log = ctl.log()
        assert code == 0, f"run {run} (SIGTERM at {moment:.2f} s): exit {code}\n{log[-3000:]}"
        assert "uncaught exception" not in log and "Traceback" not in log, log[-3000:]
        assert took < EXIT_LIMIT_S
    assert len(moments) == RUNS
