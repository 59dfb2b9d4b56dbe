#!/usr/bin/env python3
"""Benchmark: op25b radius throughput and Start -> entry on a real OVS bridge.

    .venv/bin/python scripts/bench_radius.py [--rate 1200] [--seconds 10] [--sessions 100000]
                                             [--changes 100] [--backends sqlite,postgresql]

Throughput: a fresh database holding ``--sessions`` live sessions, the real
``op25b radius`` process, and a load generator on loopback sending
Accounting-Requests (RFC 2866 authenticators, real secret; a mix of new
Starts, Interim-Updates of the stored sessions and Stops) at ``--rate`` for
``--seconds``; every reply is matched to its request. Start -> entry: the
real controller manages a real OVS bridge (run under the lab lock); each
Start for a broadband account is sent and the clock stops when
``ovs-ofctl dump-flows`` shows the session's drop entry. Prints a table
with each target beside it; exits non-zero if a request or entry never
arrived.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from op25b_app.db.engine import insert_many, make_engine, write_connection  # noqa: E402
from op25b_app.db.migrate import upgrade  # noqa: E402
from op25b_app.db.models import SubscriberSession  # noqa: E402
from op25b_app.service import PolicyService  # noqa: E402
from scripts.bench_live import BRIDGE_PREFIX, add_bridge, pct, sh, wait_entry  # noqa: E402
from tests.lab import labkit  # noqa: E402

SECRET = b"bench-secret"
DPID = 0x25B200
SOCKETS = 16


def _attr(code: int, value: bytes) -> bytes:
    return struct.pack("!BB", code, len(value) + 2) + value


def request(ident: int, status: int, sid: str, user: str, ip: str | None) -> bytes:
    attrs = (_attr(40, struct.pack("!I", status)) + _attr(44, sid.encode())
             + _attr(1, user.encode()) + _attr(55, struct.pack("!I", int(time.time()))))
    if ip is not None:
        attrs += _attr(8, socket.inet_aton(ip))
    head = struct.pack("!BBH", 4, ident, 20 + len(attrs))
    return head + hashlib.md5(head + bytes(16) + attrs + SECRET).digest() + attrs


def preload(url: str, count: int) -> None:
    """``count`` live sessions on 20 other switches (one COPY / executemany)."""
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(days=1)
    rows = [{"nas": "bng-bench", "acct_session_id": f"pre-{i}", "account": f"BB-{i:06d}",
             "user_name": f"BB-{i:06d}", "source": "radius", "dpid": 0x100 + i % 20,
             "port": 2 + i % 40, "vlan": None, "framed_ip": f"10.{i >> 16}.{(i >> 8) & 255}."
             f"{i & 255}/32", "framed_ipv6_prefix": None, "delegated_ipv6_prefix": None,
             "nas_ip": None, "nas_identifier": None, "nas_port_id": None,
             "interim_interval": 86400, "started_at": now, "last_seen": now,
             "expires_at": later, "ended_at": None, "end_reason": None} for i in range(count)]
    engine = make_engine(url)
    try:
        with write_connection(engine) as conn:
            insert_many(conn, SubscriberSession.__table__, rows)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def start_radius(url: str, workdir: Path, dpid: int) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = workdir / "radius.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\nmetrics_listen = ""\n'
                      f'[[clients]]\nname = "bng-bench"\naddress = "127.0.0.1"\n'
                      f'secret = "{SECRET.decode()}"\ndpid = "{dpid:#x}"\nport = 5\n')
    log = workdir / "radius.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(labkit.VENV_BIN / "op25b"), "--db", url, "radius",
                                 "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ})
    labkit.wait_for(lambda: "listening on" in log.read_text(), 60, what="op25b radius")
    return proc, port


def load(port: int, rate: float, seconds: float,
         stored: int) -> tuple[int, int, list[float], float]:
    """Offer ``rate`` requests/s for ``seconds``; (sent, answered, latencies, elapsed s).

    ``elapsed`` runs from the first request sent to the last reply received,
    so answered/elapsed is the rate the server sustained (a server that
    falls behind answers late, and that shows in both numbers).
    """
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOCKETS)]
    sent_at: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    last_reply = [0.0]
    done = threading.Event()

    def receive(index: int, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not done.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            began = sent_at.pop((index, data[1]), None)
            if began is not None:
                last_reply[0] = time.perf_counter()
                latencies.append(last_reply[0] - began)

    threads = [threading.Thread(target=receive, args=(i, s), daemon=True)
               for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    total = int(rate * seconds)
    begin = time.perf_counter()
    for n in range(total):
        kind = n % 4  # 2 Starts (new), 1 Interim (stored session), 1 Stop (an earlier Start)
        if kind in (0, 1):
            packet_args = (1, f"new-{n}", f"NEW-{n}", f"100.{64 + (n >> 16)}.{(n >> 8) & 255}."
                           f"{n & 255}")
        elif kind == 2:
            i = (n * 7919) % stored
            packet_args = (3, f"pre-{i}", f"BB-{i:06d}", None)
        else:
            packet_args = (2, f"new-{n - 3}", f"NEW-{n - 3}", None)
        index, ident = n % SOCKETS, (n // SOCKETS) % 256
        packet = request(ident, *packet_args)  # type: ignore[arg-type]
        while time.perf_counter() < begin + n / rate:
            time.sleep(0.0002)
        sent_at[(index, ident)] = time.perf_counter()
        socks[index].sendto(packet, ("127.0.0.1", port))
    deadline = time.perf_counter() + 10
    while sent_at and time.perf_counter() < deadline:
        time.sleep(0.05)
    done.set()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    return total, len(latencies), latencies, last_reply[0] - begin


def database(backend: str, workdir: Path, pg_admin: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir}/bench.db"
    name = f"op25b_rbench_{int(time.time() * 1000)}"
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc",
                    f"create database {name} owner root"], check=True)
    assert pg_admin is not None
    return pg_admin.replace("/op25b_test", f"/{name}")


def throughput(backend: str, url: str, workdir: Path, args: argparse.Namespace) -> tuple:
    engine = make_engine(url)
    upgrade(engine)
    PolicyService(engine).add_switch(DPID, "bench-radius", uplinks=[1])
    engine.dispose()
    preload(url, args.sessions)
    proc, port = start_radius(url, workdir, DPID)
    try:
        sent, answered, lat, elapsed = load(port, args.rate, args.seconds, args.sessions)
    finally:
        proc.terminate()
        proc.wait(30)
    return (backend, sent, answered, answered / elapsed, pct(lat, 0.5), pct(lat, 0.99))


def start_to_entry(url: str, workdir: Path, args: argparse.Namespace) -> list[float]:
    engine = make_engine(url)
    upgrade(engine)
    service = PolicyService(engine)
    service.add_switch(DPID, "bench-radius", uplinks=[1])
    service.add_subscriber("BENCH-BB", "bench", "broadband")
    engine.dispose()
    preload(url, args.sessions)
    ctl = labkit.ControllerProcess(url, workdir, extra_args=["--op25b-poll-interval", "1.0"])
    ctl.start()
    proc, port = start_radius(url, workdir, DPID)
    bridge = f"{BRIDGE_PREFIX}r"
    latencies = []
    try:
        add_bridge(bridge, DPID, ctl.port)
        labkit.wait_for(lambda: labkit.switch_connected(bridge), 60, what="bridge connected")
        labkit.wait_for(lambda: "policy revision" in ctl.log(), 60, what="first install")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            for i in range(args.changes):
                ip = f"198.18.{i // 250}.{i % 250 + 1}"
                began = time.perf_counter()
                sock.sendto(request(i % 256, 1, f"live-{i}", "BENCH-BB", ip),
                            ("127.0.0.1", port))
                sock.recv(4096)
                latencies.append(wait_entry(bridge, ip) - began)
                time.sleep(0.05 + (i % 7) * 0.11)
    finally:
        sh("ovs-vsctl", "--if-exists", "del-br", bridge, check=False)
        proc.terminate()
        proc.wait(30)
        ctl.stop()
    return latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--no-switch", action="store_true", help="skip Start -> entry (no OVS)")
    args = ap.parse_args()
    backends = args.backends.split(",")
    pg_admin = sh(str(REPO / "scripts" / "pg-up")).strip() if "postgresql" in backends else None
    rows, entry_rows = [], []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="op25b-rbench-") as tmp:
            rows.append(throughput(backend, database(backend, Path(tmp), pg_admin), Path(tmp),
                                   args))
        if not args.no_switch:
            labkit.require_lab()
            with tempfile.TemporaryDirectory(prefix="op25b-rbench-") as tmp:
                lat = start_to_entry(database(backend, Path(tmp), pg_admin), Path(tmp), args)
                mode = "NOTIFY" if backend == "postgresql" else "poll 1 s"
                entry_rows.append((backend, mode, len(lat), pct(lat, 0.5), pct(lat, 0.99),
                                   max(lat)))
    print(f"\n## accounting requests on loopback ({args.sessions:,} live sessions, offered "
          f"{args.rate:.0f}/s for {args.seconds:.0f} s; 2 Start : 1 Interim : 1 Stop)\n")
    print("| backend | sent | answered | answered/s | p50 ms | p99 ms | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for backend, sent, answered, per_s, p50, p99 in rows:
        print(f"| {backend} | {sent} | {answered} | {per_s:.0f} | {p50 * 1000:.1f} | "
              f"{p99 * 1000:.1f} | >= 1,000/s answered |")
    if entry_rows:
        print("\n## Start -> entry on a real OVS bridge\n")
        print("| backend | change detection | Starts | p50 ms | p99 ms | max ms | target |")
        print("|---|---|---:|---:|---:|---:|---|")
        for backend, mode, n, p50, p99, worst in entry_rows:
            target = "p99 < 300 ms" if backend == "postgresql" else "(none; poll 1 s)"
            print(f"| {backend} | {mode} | {n} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | "
                  f"{worst * 1000:.0f} | {target} |")
    return 0 if all(r[2] == r[1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
