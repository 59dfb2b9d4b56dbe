"""The exported rbldnsd zone, served by Debian's rbldnsd and asked with dig.

Loopback only (127.0.0.1, a free port): no lab needed. The zone comes from
the real command (``op25b export ranges --format rbldnsd --output FILE``)
on a database filled through the service, so what other operators' mail
servers would be told is checked end to end: 127.0.0.10 and the TXT for a
blocked address, NXDOMAIN for an opted-out, a dial-up and an unknown one,
IPv4 and IPv6 (reverse-nibble names).

rbldnsd and dig are installed by scripts/bootstrap (Debian packages rbldnsd
and bind9-dnsutils); without them this test fails with the reason.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from op25b_app.service import AttachmentSpec, PolicyService, open_database, upgrade_schema
from tests.conftest import _fresh_pg_database
from tests.ops.units import REPO

ZONE = "dyn.op25b.test"
LISTED = "127.0.0.10"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                  else None)
    if path is None:
        pytest.fail(f"{name} not found: run scripts/bootstrap (Debian package '{package}')",
                    pytrace=False)
    return path


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _fill(url: str) -> None:
    engine = open_database(url, mode="create")
    try:
        upgrade_schema(engine)
        svc = PolicyService(engine)
        svc.add_switch(1, "edge1", uplinks=[1])
        svc.add_mta("relay1", "192.0.2.25")
        for account, kind, port, prefixes in (
                ("BB-1", "broadband", 2, ("198.51.100.0/24", "2001:db8:100::/56")),
                ("DU-1", "dialup", 3, ("203.0.113.0/28", "2001:db8:200::/56")),
                ("BB-OPT", "broadband", 4, ("198.51.100.200/32", "2001:db8:100:ff::/64"))):
            svc.add_subscriber(account, account, kind,
                               [AttachmentSpec(1, port, prefixes=prefixes)])
        svc.exempt_subscriber("BB-OPT", "runs its own MTA")
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_zone(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The zone exported from each backend, served by rbldnsd on 127.0.0.1; yields its port."""
    tmp_path = tmp_path_factory.mktemp(f"rbldnsd-{request.param}")
    if request.param == "sqlite":
        yield from _serve(f"sqlite:///{tmp_path / 'op25b.db'}", tmp_path)
        return
    with _fresh_pg_database() as url:
        yield from _serve(url, tmp_path)


def _serve(db_url: str, tmp_path: Path) -> Iterator[int]:
    rbldnsd = _tool("rbldnsd", "rbldnsd")
    _tool("dig", "bind9-dnsutils")
    _fill(db_url)
    zone_dir = tmp_path / "zone"
    zone_dir.mkdir()
    zone_dir.chmod(0o755)  # rbldnsd reads it as its own user, inside its chroot
    export = subprocess.run(
        [sys.executable, "-m", "op25b_app.cli.main", "--db", db_url, "export", "ranges",
         "--format", "rbldnsd", "--output", str(zone_dir / "op25b")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert export.returncode == 0, export.stderr
    port = _free_udp_port()
    chroot = ["-r", str(zone_dir)] if os.geteuid() == 0 else ["-w", str(zone_dir)]
    log = tmp_path / "rbldnsd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([rbldnsd, "-n", *chroot, "-b", f"127.0.0.1/{port}",
                                 f"{ZONE}:combined:op25b"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while b"started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"rbldnsd did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _name(address: str) -> str:
    """The DNSBL query name: reversed octets (IPv4) or nibbles (IPv6) under the zone."""
    pointer = ipaddress.ip_address(address).reverse_pointer
    return pointer.rsplit(".", 2)[0] + "." + ZONE


def dig(port: int, address: str, rtype: str = "A") -> tuple[str, list[str]]:
    """(status, answers) of one query to the zone."""
    result = subprocess.run(
        [_tool("dig", "bind9-dnsutils"), "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3",
         "+noall", "+comments", "+answer", _name(address), rtype],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    status = result.stdout.split("status: ", 1)[1].split(",", 1)[0]
    answers = [line.split(None, 4)[4] for line in result.stdout.splitlines()
               if line and not line.startswith(";") and len(line.split(None, 4)) == 5]
    return status, answers


@pytest.mark.parametrize("address", ["198.51.100.7", "198.51.100.255", "2001:db8:100::25",
                                     "2001:db8:100:fe:1:2:3:4"])
def test_a_blocked_address_is_listed_with_a_txt(served_zone: int, address: str) -> None:
    assert dig(served_zone, address) == ("NOERROR", [LISTED])
    status, [txt] = dig(served_zone, address, "TXT")
    assert status == "NOERROR"
    assert txt == f'"dynamic broadband, OP25B: TCP/25 from {address} is blocked by its ' \
                  'provider"'


@pytest.mark.parametrize("address", [
    "203.0.113.5", "2001:db8:200::1",          # dial-up
    "198.51.100.200", "2001:db8:100:ff::9",    # opted out inside a blocked range
    "192.0.2.25", "192.0.2.99", "2001:db8:999::1",  # an MTA, unknown addresses
])
def test_exempt_dialup_and_unknown_addresses_are_not_listed(served_zone: int,
                                                            address: str) -> None:
    assert dig(served_zone, address) == ("NXDOMAIN", [])
