#!/usr/bin/env python3
"""Benchmark: database commit -> the new entry confirmed on a real OVS switch.

    .venv/bin/python scripts/bench_live.py [--changes 200] [--subscribers 100000] [--bridges 100]

For SQLite (1 s polling) and PostgreSQL (LISTEN/NOTIFY), with a realistic
100k-subscriber base in the database, the real ``op25b-controller`` manages a
real Open vSwitch bridge; each change adds one broadband subscriber through
the service layer (the CLI's code path) and the clock stops when
``ovs-ofctl dump-flows`` on the bridge shows the new drop entry.
Fan-out: one change while ``--bridges`` bridges are connected; the time until
every bridge holds the entry, read back from each bridge.
Prints tables; exits non-zero if an entry never arrived.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from op25b_app.db.engine import make_engine  # noqa: E402
from op25b_app.db.migrate import upgrade  # noqa: E402
from op25b_app.service import AttachmentSpec, PolicyService  # noqa: E402
from scripts import isp_dataset  # noqa: E402
from tests.lab import labkit  # noqa: E402

BRIDGE_PREFIX = "op25bl"
BENCH_DPID = 0x25B100


def sh(*cmd: str, check: bool = True) -> str:
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def add_bridge(name: str, dpid: int, port: int) -> None:
    sh("ovs-vsctl", "--if-exists", "del-br", name)
    sh("ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev",
       "fail_mode=secure", "protocols=OpenFlow13", f"other-config:datapath-id={dpid:016x}",
       "--", "set-controller", name, f"tcp:127.0.0.1:{port}")


def del_bridges() -> None:
    for br in sh("ovs-vsctl", "list-br").split():
        if br.startswith(BRIDGE_PREFIX):
            sh("ovs-vsctl", "--if-exists", "del-br", br, check=False)


def has_entry(bridge: str, ip: str) -> bool:
    out = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge, f"tcp,nw_src={ip}",
             check=False)
    return f"nw_src={ip}" in out


def wait_entry(bridge: str, ip: str, cap: float = 60.0) -> float:
    start = time.perf_counter()
    while not has_entry(bridge, ip):
        if time.perf_counter() - start > cap:
            raise TimeoutError(f"{ip} never reached {bridge}")
        time.sleep(0.002)
    return time.perf_counter()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency_run(url: str, workdir: Path, changes: int, subscribers: int,
                extra: list[str]) -> list[float]:
    engine = make_engine(url)
    upgrade(engine)
    isp_dataset.populate(engine, subscribers, switches=20)
    service = PolicyService(engine)
    service.add_switch(BENCH_DPID, "bench-live", uplinks=[1])
    ctl = labkit.ControllerProcess(url, workdir, extra_args=extra).start()
    bridge = f"{BRIDGE_PREFIX}0"
    latencies = []
    try:
        add_bridge(bridge, BENCH_DPID, ctl.port)
        labkit.wait_for(lambda: labkit.switch_connected(bridge), 60, what="bridge connected")
        labkit.wait_for(lambda: "policy revision" in ctl.log(), 60, what="first install")
        for i in range(changes):
            ip = f"198.18.{i // 250}.{i % 250 + 1}"
            service.add_subscriber(f"LIVE-{i:05d}", f"bench {i}", "broadband",
                                   [AttachmentSpec(BENCH_DPID, 2 + i % 40, None, (f"{ip}/32",))])
            committed = time.perf_counter()
            latencies.append(wait_entry(bridge, ip) - committed)
            time.sleep(0.05 + (i % 7) * 0.11)  # spread changes over the poll phase
    except Exception:
        print(ctl.log()[-3000:], file=sys.stderr)
        raise
    finally:
        sh("ovs-vsctl", "--if-exists", "del-br", bridge, check=False)
        ctl.stop()
        engine.dispose()
    return latencies


def fanout_run(url: str, workdir: Path, bridges: int) -> tuple[float, float]:
    engine = make_engine(url)
    upgrade(engine)
    service = PolicyService(engine)
    for n in range(bridges):
        service.add_switch(BENCH_DPID + 1 + n, f"fan-{n}", uplinks=[1])
    ctl = labkit.ControllerProcess(url, workdir).start()
    names = [f"{BRIDGE_PREFIX}{n + 1}" for n in range(bridges)]
    try:
        for n, name in enumerate(names):
            add_bridge(name, BENCH_DPID + 1 + n, ctl.port)
        labkit.wait_for(lambda: all(labkit.switch_connected(b) for b in names), 120,
                        interval=0.5, what="all bridges connected")
        labkit.wait_for(lambda: ctl.log().count("policy revision") >= bridges, 120,
                        interval=0.5, what="all bridges installed")
        # One subscriber attached to every bridge: one commit, 100 switches to update.
        specs = [AttachmentSpec(BENCH_DPID + 1 + n, 2, None, ("198.19.0.1/32",))
                 for n in range(bridges)]
        service.add_subscriber("FAN-1", "fan-out", "broadband", specs)
        committed = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            done = list(pool.map(lambda b: wait_entry(b, "198.19.0.1"), names))
        return min(done) - committed, max(done) - committed
    finally:
        del_bridges()
        ctl.stop()
        engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--bridges", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    labkit.require_lab()
    del_bridges()
    pg_url = None
    if "postgresql" in args.backends:
        pg_url = sh(str(REPO / "scripts" / "pg-up")).strip()
    rows = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="op25b-bench-") as tmp:
            workdir = Path(tmp)
            if backend == "sqlite":
                url = f"sqlite:///{workdir}/bench.db"
                mode = "poll 1 s"
            else:
                name = f"op25b_bench_{int(time.time())}"
                subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc",
                                f"create database {name} owner root"], check=True)
                url = pg_url.replace("/op25b_test", f"/{name}")
                mode = "NOTIFY"
            lat = latency_run(url, workdir, args.changes, args.subscribers,
                              ["--op25b-poll-interval", "1.0"])
            rows.append((backend, mode, len(lat), statistics.median(lat), pct(lat, 0.99),
                         max(lat)))
    print(f"\n## commit -> entry on a real OVS bridge ({args.subscribers:,} subscribers in the "
          "database)\n")
    print("| backend | change detection | changes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for backend, mode, n, p50, p99, worst in rows:
        print(f"| {backend} | {mode} | {n} | {p50 * 1000:.0f} | {p99 * 1000:.0f} "
              f"| {worst * 1000:.0f} |")
    with tempfile.TemporaryDirectory(prefix="op25b-bench-") as tmp:
        first, last = fanout_run(f"sqlite:///{tmp}/fan.db", Path(tmp), args.bridges)
    print(f"\n## fan-out: one change, {args.bridges} OVS bridges connected (SQLite, poll 1 s)\n")
    print("| bridges | first bridge has it ms | every bridge has it ms |")
    print("|---|---|---|")
    print(f"| {args.bridges} | {first * 1000:.0f} | {last * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
