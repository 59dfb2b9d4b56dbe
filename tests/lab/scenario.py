"""The lab's example subscriber database and the OP25B traffic matrix.

Shared by the lab tests and ``scripts/demo.py`` so the demo prints exactly
what the tests assert. The database is written through the real ``op25b``
command line, so the example doubles as a walk-through for operators.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from topologies.isp import CORE_DPID, EDGE_DPID, EDGE_UPLINK_PORT, HOSTS_BY_NAME

OP25B = str(Path(sys.executable).parent / "op25b")

#: The example ISP: bb1 broadband (whole port), bb2 broadband with an opt-out
#: (by address), du1 dial-up behind the RAS port, new1 not in the database.
EXAMPLE_COMMANDS: list[list[str]] = [
    ["switch", "add", "--dpid", str(EDGE_DPID), "--name", "op25e1",
     "--uplink", str(EDGE_UPLINK_PORT)],
    ["switch", "add", "--dpid", str(CORE_DPID), "--name", "op25c1", "--role", "core"],
    ["mta", "add", "--name", "relay-v4", "--prefix", HOSTS_BY_NAME["mta"].ip4],
    ["mta", "add", "--name", "relay-v6", "--prefix", HOSTS_BY_NAME["mta"].ip6],
    ["subscriber", "add", "--account", "BB-0001", "--name", "bb1 (broadband)",
     "--type", "broadband", "--attach", f"{EDGE_DPID}:{HOSTS_BY_NAME['bb1'].port}"],
    ["subscriber", "add", "--account", "BB-0002", "--name", "bb2 (broadband, opt-out)",
     "--type", "broadband", "--attach", f"{EDGE_DPID}:{HOSTS_BY_NAME['bb2'].port}",
     "--prefix", f"{HOSTS_BY_NAME['bb2'].ip4}/32", "--prefix", f"{HOSTS_BY_NAME['bb2'].ip6}/128"],
    ["subscriber", "exempt", "BB-0002", "--reason", "runs its own mail server"],
    ["subscriber", "add", "--account", "DU-0001", "--name", "du1 (dial-up)",
     "--type", "dialup", "--attach", f"{EDGE_DPID}:{HOSTS_BY_NAME['du1'].port}"],
]


def op25b(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real ``op25b`` CLI against ``db_url``."""
    return subprocess.run([OP25B, "--db", db_url, *args], check=check,
                          capture_output=True, text=True, timeout=120)


def load_example(db_url: str) -> None:
    op25b(db_url, "db", "init")
    for cmd in EXAMPLE_COMMANDS:
        result = op25b(db_url, *cmd, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"op25b {' '.join(cmd)} failed: {result.stderr.strip()}")


ALLOWED = "connects"
BLOCKED = "blocked"
PASSES = "passes"


@dataclasses.dataclass(frozen=True)
class Column:
    title: str
    proto: str  # tcp / udp
    target: str | None  # host name, None = "another customer"
    port: int


COLUMNS = (
    Column("MTA:25", "tcp", "mta", 25),
    Column("external:25", "tcp", "ext", 25),
    Column("external:587", "tcp", "ext", 587),
    Column("external:465", "tcp", "ext", 465),
    Column("web:80", "tcp", "web", 80),
    Column("another customer:25", "tcp", None, 25),
    Column("UDP external:25", "udp", "ext", 25),
)

#: (row title, source host, expected per column) exactly as the issue states.
ROWS = (
    ("broadband", "bb1", (ALLOWED, BLOCKED, ALLOWED, ALLOWED, ALLOWED, BLOCKED, PASSES)),
    ("broadband with opt-out", "bb2", (ALLOWED,) * 6 + (PASSES,)),
    ("dial-up", "du1", (ALLOWED,) * 6 + (PASSES,)),
    ("unregistered port", "new1", (ALLOWED, BLOCKED, ALLOWED, ALLOWED, ALLOWED, BLOCKED, PASSES)),
)

#: Which customer each row calls "another customer" (always a different host).
OTHER_CUSTOMER = {"bb1": "du1", "bb2": "bb1", "du1": "bb1", "new1": "du1"}

#: Listeners the matrix needs: host -> (tcp ports, udp ports).
SERVERS = {
    "mta": ([25], []),
    "ext": ([25, 587, 465], [25]),
    "web": ([80], []),
    "bb1": ([25], []),
    "du1": ([25], []),
}


def start_servers(lab) -> None:
    for name, (tcp, udp) in SERVERS.items():
        lab.serve(name, tcp, udp)


def observe(lab, src: str, column: Column, family: int, token: str) -> str:
    """Run one cell: 'connects', 'blocked' (timed out), 'refused', or UDP result."""
    from tests.lab.labkit import CONNECTED, ip_of, wait_for

    target = column.target or OTHER_CUSTOMER[src]
    dst = ip_of(target, family)
    if column.proto == "udp":
        log = lab.workdir / f"udp-{target}.log"
        lab.udp(src, dst, column.port, token)
        try:
            wait_for(lambda: log.exists() and token in log.read_text(), 5, what="UDP datagram")
            return PASSES
        except TimeoutError:
            return BLOCKED
    result = lab.tcp(src, dst, column.port)
    return ALLOWED if result == CONNECTED else (BLOCKED if result == "timeout" else result)


def run_matrix(lab, families=(4, 6)) -> list[tuple[str, str, int, str, str, str]]:
    """Every cell over every family: (row, src, family, column, expected, observed)."""
    cells = []
    for title, src, expected in ROWS:
        for family in families:
            for col, exp in zip(COLUMNS, expected):
                token = f"{src}-{family}-{col.port}-{col.title}".replace(" ", "_")
                cells.append((title, src, family, col.title, exp,
                              observe(lab, src, col, family, token)))
    return cells


def format_matrix(cells) -> str:
    """Rows x columns, each cell 'expected/observed' (one word when they agree)."""
    lines = []
    corner = "from \\ to"
    header = f"{corner:<28}" + "".join(f"{c.title:>22}" for c in COLUMNS)
    lines.append(header)
    for title, src, _exp in ROWS:
        for family in (4, 6):
            row = [c for c in cells if c[1] == src and c[2] == family]
            if not row:
                continue
            text = []
            for c in row:
                text.append(c[5] if c[4] == c[5] else f"{c[5]}!(want {c[4]})")
            lines.append(f"{title + f' IPv{family}':<28}" + "".join(f"{t:>22}" for t in text))
    return "\n".join(lines)
