"""Run ``op25b radius`` as a real process and talk to it with radclient and raw datagrams.

radclient (freeradius-utils) is the real client: real packets, real shared
secrets. Cases radclient refuses to build (a truncated attribute, a packet
from another source address, a byte-exact retransmission) are sent as raw
datagrams whose Request Authenticator is computed here per RFC 2866.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import _fresh_pg_database

REPO = Path(__file__).resolve().parents[2]
SECRET = "testing123"
SECRET6 = "v6-secret"
START_TIMEOUT_S = 30.0


def free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 and ::1 a moment ago."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s4:
            s4.bind(("127.0.0.1", 0))
            port: int = s4.getsockname()[1]
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
                try:
                    s6.bind(("::1", port))
                except OSError:
                    continue
                return port


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def op25b(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``op25b`` CLI of this worktree."""
    return subprocess.run([sys.executable, "-m", "op25b_app.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=check)


def write_config(path: Path, port: int, metrics_port: int, extra: str = "") -> Path:
    """Clients: bng1 (127.0.0.1, port 5 of 0x1, NAS-Port-Id map) and bng6 (::1, port 6)."""
    path.write_text(f"""
listen = ["127.0.0.1:{port}", "[::1]:{port}"]
metrics_listen = "127.0.0.1:{metrics_port}"
realms = ["isp.example"]
sweep_interval = 0.2
{extra}
[[clients]]
name = "bng1"
address = "127.0.0.1"
secret = "{SECRET}"
dpid = "0x1"
port = 5
[clients.ports]
"ge-0/0/7" = "7:100"

[[clients]]
name = "bng6"
address = "::1"
secret = "{SECRET6}"
dpid = "0x1"
port = 6
""")
    return path


@dataclasses.dataclass
class Radius:
    """A running ``op25b radius`` and its database."""

    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    db_url: str
    log_path: Path
    config: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def engine(self) -> sa.Engine:
        from op25b_app.db.engine import make_engine

        return make_engine(self.db_url)

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.metrics().splitlines():
            head, _, value = line.rpartition(" ")
            sample, _, rest = head.partition("{")
            if sample == name and ",".join(sorted(rest.rstrip("}").split(","))) == want:
                return float(value)
        return 0.0


def start_radius(db_url: str, directory: Path, extra: str = "") -> Radius:
    port, metrics_port = free_udp_port(), free_tcp_port()
    config = write_config(directory / "radius.toml", port, metrics_port, extra)
    log_path = directory / "radius.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "op25b_app.cli.main", "--db", db_url, "radius",
             "--config", str(config)], stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    radius = Radius(proc, port, metrics_port, db_url, log_path, config)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"op25b radius exited with {proc.returncode}:\n{radius.log()}")
        if "listening on" in radius.log():
            return radius
        time.sleep(0.05)
    stop_radius(radius)
    pytest.fail(f"op25b radius did not start:\n{radius.log()}")


def stop_radius(radius: Radius) -> int:
    if radius.proc.poll() is None:
        radius.proc.send_signal(signal.SIGTERM)
        try:
            radius.proc.wait(15)
        except subprocess.TimeoutExpired:
            radius.proc.kill()
            radius.proc.wait()
    return radius.proc.returncode


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """A migrated database with switch 0x1 (uplink 1) and the test subscribers."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'op25b.db'}"
        _populate(url)
        yield url
        return
    with _fresh_pg_database() as url:
        _populate(url)
        yield url


def _populate(url: str) -> None:
    op25b("--db", url, "db", "init")
    op25b("--db", url, "switch", "add", "--dpid", "0x1", "--name", "edge1", "--uplink", "1")
    op25b("--db", url, "subscriber", "add", "--account", "BB-0001", "--name", "Taro",
          "--type", "broadband")
    op25b("--db", url, "subscriber", "add", "--account", "DU-0001", "--name", "Hanako",
          "--type", "dialup")


def radclient(radius: Radius, attributes: Sequence[str], *, secret: str = SECRET,
              host: str = "127.0.0.1", code: str = "acct", expect_reply: bool = True,
              ) -> subprocess.CompletedProcess[str]:
    """Send one request with radclient; assert whether a reply came."""
    target = f"[{host}]:{radius.port}" if ":" in host else f"{host}:{radius.port}"
    timeout = ["-t", "3", "-r", "3"] if expect_reply else ["-t", "1", "-r", "1"]
    result = subprocess.run(["radclient", "-x", *timeout, target, code, secret],
                            input="\n".join(attributes) + "\n", capture_output=True, text=True,
                            timeout=30)
    got = "Received Accounting-Response" in result.stdout
    assert got == expect_reply, (result.stdout, result.stderr, radius.log())
    return result


# --------------------------------------------------------------------------- raw datagrams

def attribute(code: int, value: bytes) -> bytes:
    return struct.pack("!BB", code, len(value) + 2) + value


def text(code: int, value: str) -> bytes:
    return attribute(code, value.encode())


def integer(code: int, value: int) -> bytes:
    return attribute(code, struct.pack("!I", value))


def raw_request(attributes: bytes, secret: str = SECRET, ident: int = 7) -> bytes:
    """An Accounting-Request with a correct RFC 2866 Request Authenticator."""
    length = 20 + len(attributes)
    head = struct.pack("!BBH", 4, ident, length)
    auth = hashlib.md5(head + b"\0" * 16 + attributes + secret.encode()).digest()
    return head + auth + attributes


def send_raw(radius: Radius, datagram: bytes, *, source: str = "127.0.0.1",
             timeout: float = 2.0, times: int = 1) -> bytes | None:
    """Send ``datagram`` ``times`` from one ``source`` port (a retransmission is
    byte-exact from the same port); the last reply, or None after ``timeout``."""
    reply = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        for _ in range(times):
            sock.sendto(datagram, ("127.0.0.1", radius.port))
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                reply = None
    return reply


def sessions(radius: Radius, **where: Any) -> list[dict[str, Any]]:
    """Rows of ``sessions`` matching ``where`` (column = value), oldest first."""
    engine = radius.engine()
    try:
        from op25b_app.db.models import SubscriberSession

        table = SubscriberSession.__table__
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(table.c.id))]
    finally:
        engine.dispose()


def revision(radius: Radius) -> int:
    engine = radius.engine()
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one())
    finally:
        engine.dispose()
