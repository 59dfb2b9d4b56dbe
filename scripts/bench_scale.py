#!/usr/bin/env python3
"""Benchmark: op25b at scale, each row beside its limit and the ratio, one run.

    .venv/bin/python scripts/bench_scale.py [--only install,change]

install  one switch holding N broadband /32s (the shape behind a BRAS): switch
         connect -> every entry confirmed, against ``ovs-ofctl --bundle
         add-flows`` of the same entries on the same kind of bridge (limit 1.5x),
         and the controller's RSS once it is installed (limit 120 MB at 100k).
change   one subscriber added, exempted, changed and removed with 100k on the
         *same* switch: commit -> entry seen on the switch, p50/p99 over the
         changes (SQLite polling: limit poll + 100 ms; PostgreSQL NOTIFY: 100 ms).

The 1,000-bridge fan-out of the scale issue is not measured here yet.

Prints a markdown table per part; exits 1 if a row misses its limit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts import isp_dataset  # noqa: E402
from tests.lab import labkit  # noqa: E402

from op25b_app.core.compile import compile_policy  # noqa: E402
from op25b_app.db.engine import make_engine  # noqa: E402
from op25b_app.db.migrate import upgrade  # noqa: E402
from op25b_app.db.snapshot_loader import load_snapshot  # noqa: E402

BRIDGE = "op25scale0"
DPID = 0x25D0
INSTALLED = re.compile(r"switch (\w+): policy revision \d+ installed, (\d+) entries .* in (\d+) ms "
                       r"\((\d+) ms after connect")


def sh(*cmd: str, check: bool = True, timeout: float = 600) -> str:
    return subprocess.run(cmd, check=check, capture_output=True, text=True,
                          timeout=timeout).stdout


def add_bridge(name: str, dpid: int) -> None:
    sh("ovs-vsctl", "--if-exists", "del-br", name)
    sh("ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev",
       "fail_mode=secure", "protocols=OpenFlow13", f"other-config:datapath-id={dpid:016x}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def populated(workdir: Path, n: int) -> str:
    url = f"sqlite:///{workdir}/scale.db"
    engine = make_engine(url)
    upgrade(engine)
    isp_dataset.populate_single_switch(engine, DPID, n)
    engine.dispose()
    return url


def ofctl_bundle_seconds(url: str, workdir: Path) -> tuple[float, int]:
    """``ovs-ofctl --bundle add-flows`` of exactly the entries op25b compiles."""
    import datetime as dt

    engine = make_engine(url)
    specs, _ = compile_policy(load_snapshot(engine), DPID, dt.datetime.now(dt.timezone.utc))
    engine.dispose()
    flows = workdir / "flows.txt"
    flows.write_text("".join(f"{spec}\n" for spec in specs))
    add_bridge(BRIDGE, DPID)
    started = time.perf_counter()
    sh("ovs-ofctl", "-O", "OpenFlow13", "--bundle", "add-flows", BRIDGE, str(flows))
    took = time.perf_counter() - started
    installed = len(labkit.dump_flows(BRIDGE))
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    return took, installed


def bench_install(sizes: list[int]) -> bool:
    print("\n## install: switch connect -> every entry confirmed (one userspace bridge)\n")
    print("| subscribers | entries | op25b s | `ovs-ofctl --bundle add-flows` s | ratio "
          "| limit | RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="op25b-scale-") as tmp:
            workdir = Path(tmp)
            url = populated(workdir, n)
            reference, _ = ofctl_bundle_seconds(url, workdir)
            ctl = labkit.ControllerProcess(url, workdir,
                                           ["--op25b-stats-interval", "0"]).start()
            try:
                time.sleep(2.0)  # the controller's first snapshot
                add_bridge(BRIDGE, DPID)
                sh("ovs-vsctl", "set-controller", BRIDGE, f"tcp:127.0.0.1:{ctl.port}")
                found = labkit.wait_for(lambda: INSTALLED.search(ctl.log()), 300,
                                        what="policy installed")
                entries, after_connect = int(found.group(2)), int(found.group(4)) / 1000
                detail = found.string[found.end():].split(")", 1)[0]
                print(f"<!-- {n}: {detail.strip('; ')} -->")
                on_bridge = len(labkit.dump_flows(BRIDGE))
                assert ctl.proc is not None
                rss = rss_mb(ctl.proc.pid)
            finally:
                sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
                ctl.stop()
            ratio = after_connect / reference
            row_ok = ratio <= 1.5 and on_bridge == entries
            ok &= row_ok
            print(f"| {n:,} | {entries:,} | {after_connect:.2f} | {reference:.2f} | "
                  f"{ratio:.2f}x | 1.5x{'' if row_ok else ' MISSED'} | {rss:.0f} |")
    return ok


def _entry(bridge: str, ip: str) -> str:
    out = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge, f"tcp,nw_src={ip}",
             check=False)
    return "drop" if "actions=drop" in out else "pass" if "actions=NORMAL" in out else "none"


def _wait(bridge: str, ip: str, want: str, cap: float = 30.0) -> float:
    start = time.perf_counter()
    while _entry(bridge, ip) != want:
        if time.perf_counter() - start > cap:
            raise TimeoutError(f"{ip} never became {want} on {bridge}")
        time.sleep(0.001)
    return time.perf_counter()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def change_run(url: str, workdir: Path, subscribers: int, rounds: int,
               poll: float) -> dict[str, list[float]]:
    """Add, exempt, unexempt and remove one subscriber on the 100k switch, ``rounds`` times."""
    from op25b_app.service import AttachmentSpec, PolicyService

    engine = make_engine(url)
    upgrade(engine)
    isp_dataset.populate_single_switch(engine, DPID, subscribers)
    service = PolicyService(engine)
    ctl = labkit.ControllerProcess(url, workdir, ["--op25b-poll-interval", str(poll),
                                                  "--op25b-stats-interval", "0"]).start()
    times: dict[str, list[float]] = {"add": [], "exempt": [], "unexempt": [], "remove": []}
    try:
        add_bridge(BRIDGE, DPID)
        sh("ovs-vsctl", "set-controller", BRIDGE, f"tcp:127.0.0.1:{ctl.port}")
        labkit.wait_for(lambda: INSTALLED.search(ctl.log()), 300, what="first install")
        for i in range(rounds):
            ip, account = f"198.18.{i // 250}.{i % 250 + 1}", f"CHG-{i:05d}"
            steps = [
                ("add", "drop", lambda: service.add_subscriber(
                    account, "", "broadband", [AttachmentSpec(DPID, 2 + i % 40, None,
                                                              (f"{ip}/32",))])),
                ("exempt", "pass", lambda: service.exempt_subscriber(account, "bench")),
                ("unexempt", "drop", lambda: service.unexempt_subscriber(account)),
                ("remove", "none", lambda: service.remove_subscriber(account)),
            ]
            for name, want, change in steps:
                time.sleep(0.05 + (i % 7) * poll / 7)  # spread over the poll phase
                change()
                committed = time.perf_counter()
                times[name].append(_wait(BRIDGE, ip, want) - committed)
    except Exception:
        print(ctl.log()[-3000:], file=sys.stderr)
        raise
    finally:
        sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE, check=False)
        ctl.stop()
        engine.dispose()
        kept = Path(tempfile.gettempdir()) / f"op25b-bench-change-{engine.dialect.name}.log"
        kept.write_text(ctl.log())
    return times


def bench_change(subscribers: int, rounds: int) -> bool:
    print(f"\n## change: commit -> entry on the switch, {subscribers:,} subscribers on the "
          "same switch\n")
    print("| backend | detection | change | n | p50 ms | p99 ms | limit ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    ok = True
    for backend in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory(prefix="op25b-scale-") as tmp:
            workdir = Path(tmp)
            if backend == "sqlite":
                url, poll, limit, mode = f"sqlite:///{workdir}/chg.db", 1.0, 1100, "poll 1 s"
            else:
                url, poll, limit, mode = _fresh_pg(), 1.0, 100, "NOTIFY"
            times = change_run(url, workdir, subscribers, rounds, poll)
        for name, values in times.items():
            p99 = pct(values, 0.99) * 1000
            row_ok = p99 < limit
            ok &= row_ok
            print(f"| {backend} | {mode} | {name} | {len(values)} | "
                  f"{pct(values, 0.5) * 1000:.0f} | {p99:.0f} | {limit}"
                  f"{'' if row_ok else ' MISSED'} |")
    return ok


def _fresh_pg() -> str:
    base = sh(str(REPO / "scripts" / "pg-up")).strip()
    name = f"op25b_scale_{int(time.time())}"
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc",
                    f"create database {name} owner root"], check=True)
    return base.replace("/op25b_test", f"/{name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="install")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=50, help="changes of each kind")
    args = ap.parse_args()
    labkit.require_lab()
    parts = set(args.only.split(","))
    ok = True
    if "install" in parts:
        ok &= bench_install([int(x) for x in args.sizes.split(",") if x])
    if "change" in parts:
        ok &= bench_change(args.subscribers, args.rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
