#!/usr/bin/env python3
"""Benchmark: database load + compile, and switch connect -> policy confirmed.

    .venv/bin/python scripts/bench_policy.py [--sizes 1000,10000,100000] [--switch-sizes 1000,10000]

Part 1 loads a realistic subscriber base (scripts/isp_dataset.py) from a
SQLite file into a snapshot and compiles every switch's policy (best of 3).
Part 2 starts the real ``op25b-controller`` with N attachment entries for one
switch, connects a real Open vSwitch bridge (userspace datapath, fail-secure,
OpenFlow 1.3) and times connect -> all entries confirmed by a barrier, as the
controller logs it, and checks the bridge really holds the entries.
Prints tables; exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts import isp_dataset  # noqa: E402

from op25b_app.db.engine import make_engine  # noqa: E402
from op25b_app.db.migrate import upgrade  # noqa: E402
from op25b_app.db.snapshot_loader import load_snapshot  # noqa: E402
from op25b_app.core.compile import compile_policy  # noqa: E402
from op25b_app.core.options import PolicyOptions  # noqa: E402

BENCH_BRIDGE = "op25bench0"
BENCH_DPID = 0x25B0


def bench_compile(sizes: list[int]) -> None:
    print("\n## database load + compile (SQLite, all switches, best of 3)\n")
    print(f"| {'subscribers':>11} | {'attachments':>11} | {'switches':>8} | {'entries':>8} "
          f"| {'load s':>7} | {'compile s':>9} | {'total s':>7} |")
    print(f"|{'-' * 13}|{'-' * 13}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 11}|{'-' * 9}|")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="op25b-bench-") as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            upgrade(engine)
            counts = isp_dataset.populate(engine, n, switches=20)
            best = None
            for _ in range(3):
                t0 = time.perf_counter()
                snap = load_snapshot(engine)
                t1 = time.perf_counter()
                now = dt.datetime.now(dt.timezone.utc)
                entries = 0
                for dpid in snap.switches:
                    specs, _ = compile_policy(snap, dpid, now, PolicyOptions())
                    entries += len(specs)
                t2 = time.perf_counter()
                if best is None or (t2 - t0) < best[2]:
                    best = (t1 - t0, t2 - t1, t2 - t0, entries)
            engine.dispose()
            load_s, comp_s, total_s, entries = best
            print(f"| {n:>11,} | {counts['attachments']:>11,} | {counts['switches']:>8} "
                  f"| {entries:>8,} | {load_s:>7.2f} | {comp_s:>9.2f} | {total_s:>7.2f} |")


def sh(*cmd: str, check: bool = True) -> str:
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def bench_switch(sizes: list[int]) -> bool:
    from tests.lab import labkit

    labkit.require_lab()
    ok = True
    print("\n## switch connect -> policy confirmed by barrier (real OVS bridge, userspace)\n")
    print(f"| {'entries':>8} | {'controller: compile+read-back+send+barrier ms':>46} "
          f"| {'connect -> confirmed ms':>23} | {'entries on bridge':>17} |")
    print(f"|{'-' * 10}|{'-' * 48}|{'-' * 25}|{'-' * 19}|")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="op25b-bench-") as tmp:
            workdir = Path(tmp)
            url = f"sqlite:///{workdir}/bench.db"
            engine = make_engine(url)
            upgrade(engine)
            isp_dataset.populate_single_switch(engine, BENCH_DPID, n)
            engine.dispose()
            ctl = labkit.ControllerProcess(url, workdir).start()
            sh("ovs-vsctl", "--if-exists", "del-br", BENCH_BRIDGE)
            try:
                time.sleep(1.5)  # let the controller load its first snapshot
                sh("ovs-vsctl", "add-br", BENCH_BRIDGE, "--", "set", "bridge", BENCH_BRIDGE,
                   "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13",
                   f"other-config:datapath-id={BENCH_DPID:016x}")
                sh("ovs-vsctl", "set-controller", BENCH_BRIDGE, f"tcp:127.0.0.1:{ctl.port}")
                pattern = re.compile(r"policy revision \d+ installed, (\d+) entries .* in (\d+) ms "
                                     r"\((\d+) ms after connect")
                found = labkit.wait_for(lambda: pattern.search(ctl.log()), 300,
                                        what="policy installed")
                total, work_ms, connect_ms = (int(x) for x in found.groups())
                on_bridge = len(labkit.dump_flows(BENCH_BRIDGE))
                ok &= on_bridge == total and total >= n
                print(f"| {total:>8,} | {work_ms:>46,} | {connect_ms:>23,} | {on_bridge:>17,} |")
            finally:
                sh("ovs-vsctl", "--if-exists", "del-br", BENCH_BRIDGE, check=False)
                ctl.stop()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--switch-sizes", default="1000,10000")
    args = ap.parse_args()
    bench_compile([int(x) for x in args.sizes.split(",") if x])
    ok = bench_switch([int(x) for x in args.switch_sizes.split(",") if x])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
