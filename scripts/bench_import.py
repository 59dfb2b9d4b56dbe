"""Time ``op25b subscriber import/export`` on a realistic 100k-line CSV; print a markdown table.

The file follows scripts/isp_dataset.py's shape: 20 edge switches (uplinks 1-2),
55% broadband on shared BNG ports (IPv4 /32 from a shuffled CGN pool plus an
IPv6 /56 delegation, S-VLAN per port group), 10% FTTH broadband (port + C-VLAN
only), 30% dial-up (/32 from the same pools, no VLAN), 5% business (exempt
type, /29); 1% of broadband opted out, a third of those with an end date
written in JST; 3% of subscribers have a second attachment point (a second
line). Addresses are shuffled so nothing is contiguous.

Every step runs the real command line (``op25b_app.cli.main.main``) in this
process, CSV parsing included:

    .venv/bin/python scripts/bench_import.py                 # SQLite, 100k lines
    .venv/bin/python scripts/bench_import.py --lines 20000
    .venv/bin/python scripts/bench_import.py --postgresql "$(scripts/pg-up)"
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from op25b_app.cli.main import main  # noqa: E402
from op25b_app.service.csv_records import COLUMNS  # noqa: E402
from op25b_app.db import migrate  # noqa: E402
from op25b_app.db.engine import make_engine, normalise_url  # noqa: E402
from op25b_app.service import PolicyService  # noqa: E402

log = logging.getLogger("bench_import")

SWITCHES = 20
FIRST_DPID = 0x100
UPLINKS = (1, 2)


def setup_database(url: str) -> None:
    """Schema, switches, MTAs and the business type: what exists before an import."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        service = PolicyService(engine, actor="bench")
        service.add_connection_type("business", False, "exempt by contract")
        for n in range(SWITCHES):
            service.add_switch(FIRST_DPID + n, f"edge-{n}", uplinks=UPLINKS)
        for i in range(5):
            service.add_mta(f"relay{i}", f"192.0.2.{10 + i}/32")
            service.add_mta(f"relay6-{i}", f"2001:db8:25::{10 + i:x}/128")
    finally:
        engine.dispose()


def write_dataset(path: Path, lines: int, seed: int = 25) -> dict[str, int]:
    """Write a valid CSV of about ``lines`` lines; returns counts."""
    rng = random.Random(seed)
    v4_hosts = iter(rng.sample(range(1, 1 << 21), lines + 1000))          # 100.64.0.0/11
    v4_blocks = iter(rng.sample(range(1, 1 << 18), lines // 10 + 1000))   # /29s in 100.96.0.0/11
    v6_blocks = iter(rng.sample(range(1, 1 << 24), lines + 1000))         # /56s in 2001:db8::/32

    def v4() -> str:
        h = next(v4_hosts)
        return f"100.{64 + (h >> 16)}.{(h >> 8) & 255}.{h & 255}/32"

    def v6() -> str:
        b = next(v6_blocks)
        return f"2001:db8:{b >> 8:x}:{(b & 255) << 8:x}::/56"

    rows: list[list[str]] = []
    subscribers = 0
    per_switch_ftth: dict[int, Iterator[int]] = {}
    while len(rows) < lines:
        subscribers += 1
        account = f"BB-{subscribers:07d}"
        switch = subscribers % SWITCHES
        dpid = f"{FIRST_DPID + switch:#x}"
        roll = rng.random()
        exempt, reason, until = "false", "", ""
        points: list[tuple[str, str, str]] = []
        if roll < 0.55:
            kind = "broadband"
            port = 3 + rng.randrange(24)
            points.append((str(port), str(100 + port // 4), f"{v4()} {v6()}"))
        elif roll < 0.65:
            kind = "broadband"
            if switch not in per_switch_ftth:  # unique (port, C-VLAN) per switch
                per_switch_ftth[switch] = iter(
                    random.Random(switch).sample(range(22 * 3000), 22 * 3000))
            slot = next(per_switch_ftth[switch])
            points.append((str(27 + slot % 22), str(1000 + slot // 22), ""))
        elif roll < 0.95:
            kind = "dialup"
            points.append((str(3 + rng.randrange(24)), "", v4()))
        else:
            kind = "business"
            b = next(v4_blocks) << 3
            points.append(
                (str(3 + rng.randrange(24)), "",
                 f"100.{96 + (b >> 16)}.{(b >> 8) & 255}.{b & 255}/29")
            )
        if kind == "broadband" and rng.random() < 0.01:
            exempt, reason = "true", "own mail server (contract 25-B)"
            if rng.random() < 0.33:
                until = f"2027-{1 + rng.randrange(12):02d}-01T00:00:00+09:00"
        if rng.random() < 0.03 and points[0][2]:
            points.append((str(3 + rng.randrange(24)), "", v4()))
        name = f"Customer {subscribers}"
        for port_text, vlan, prefixes in points:
            rows.append(
                [account, name, kind, dpid, port_text, vlan, prefixes, exempt, reason, until, ""]
            )
    rng.shuffle(rows)  # billing exports are not sorted by account either
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return {"lines": len(rows), "subscribers": subscribers}


def modify(source: Path, target: Path, fraction: float, seed: int = 7) -> int:
    """Copy ``source`` with ``fraction`` of the accounts renamed (an update each)."""
    rng = random.Random(seed)
    with open(source, encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    accounts = sorted({r[0] for r in rows[1:]})
    changed = set(rng.sample(accounts, int(len(accounts) * fraction)))
    for row in rows[1:]:
        if row[0] in changed:
            row[1] = row[1] + " (moved)"
    with open(target, "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerows(rows)
    return len(changed)


def break_lines(source: Path, target: Path, count: int, seed: int = 9) -> None:
    """Copy ``source`` with ``count`` lines made invalid (an uplink port)."""
    rng = random.Random(seed)
    with open(source, encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    for index in rng.sample(range(1, len(rows)), count):
        rows[index][4] = "1"
    with open(target, "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerows(rows)


def run(url: str, *argv: str, expect: int = 0) -> tuple[float, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    status = main(["--db", url, *argv], stdout=out, stderr=err)
    elapsed = time.perf_counter() - started
    if status != expect:
        raise SystemExit(f"op25b {' '.join(argv)}: exit {status}\n{err.getvalue()[:2000]}")
    text = (out.getvalue() or err.getvalue()).strip().splitlines()
    return elapsed, (text[-1] if text else "")


@contextlib.contextmanager
def database(backend: str, directory: Path, pg_admin: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    assert pg_admin is not None
    admin = sa.create_engine(normalise_url(pg_admin), isolation_level="AUTOCOMMIT")
    name = f"op25b_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield normalise_url(pg_admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def bench(backend: str, lines: int, pg_admin: str | None) -> list[tuple[str, str, float, str]]:
    results: list[tuple[str, str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="op25b-bench-") as tmp:
        directory = Path(tmp)
        data = directory / "subscribers.csv"
        counts = write_dataset(data, lines)
        log.info("dataset: %s", counts)
        with database(backend, directory, pg_admin) as url:
            setup_database(url)

            def step(label: str, *argv: str, expect: int = 0) -> None:
                elapsed, last = run(url, *argv, expect=expect)
                results.append((backend, label, elapsed, last))
                log.info("%s: %.2f s (%s)", label, elapsed, last)

            bad = directory / "bad.csv"
            break_lines(data, bad, 100)
            step(f"rejected file ({counts['lines']} lines, 100 bad)",
                 "subscriber", "import", str(bad), expect=2)
            step(f"dry run into empty db ({counts['lines']} lines)",
                 "subscriber", "import", "--dry-run", str(data))
            step(f"import into empty db ({counts['lines']} lines, "
                 f"{counts['subscribers']} subscribers)", "subscriber", "import", str(data))
            step("re-import same file (no change)", "subscriber", "import", str(data))
            exported = directory / "export.csv"
            step("export", "subscriber", "export", "--output", str(exported))
            step("import of the export (round trip)", "subscriber", "import", str(exported))
            changed = directory / "changed.csv"
            n = modify(data, changed, 0.01)
            step(f"import with {n} accounts changed (1%)", "subscriber", "import", str(changed))
            step("audit --limit 20", "audit", "--limit", "20")

            # GET /subscribers reads through PolicyService.page_subscribers: time
            # the pages an operator or a provisioning system asks for.
            engine = make_engine(url)
            try:
                service = PolicyService(engine)
                for label, kwargs in (
                    ("API page: 100 subscribers at offset 50000",
                     {"limit": 100, "offset": 50_000}),
                    ("API page: account_prefix=BB-00123", {"account_prefix": "BB-00123"}),
                    ("API page: dpid + type filter, first 100",
                     {"dpid": FIRST_DPID + 7, "type_name": "dialup", "limit": 100}),
                ):
                    started = time.perf_counter()
                    rows, total = service.page_subscribers(**kwargs)  # type: ignore[arg-type]
                    elapsed = time.perf_counter() - started
                    results.append((backend, label, elapsed,
                                    f"{len(rows)} rows of {total} matching"))
            finally:
                engine.dispose()
    return results


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--postgresql", metavar="ADMIN_URL", default=None,
                        help="also run on PostgreSQL (a temporary database is created)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    results = bench("sqlite", args.lines, None)
    if args.postgresql:
        results += bench("postgresql", args.lines, args.postgresql)
    print("| backend | step | seconds | result |")
    print("|---|---|---:|---|")
    for backend, label, elapsed, last in results:
        print(f"| {backend} | {label} | {elapsed:.2f} | {last.replace('|', '/')[:110]} |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main_bench()
