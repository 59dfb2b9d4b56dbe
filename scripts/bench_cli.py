#!/usr/bin/env python3
"""How long ``op25b`` takes to start: the median of N runs of the common commands.

Each command runs as its own process (``python -m op25b_app.cli.main ...``)
against a small SQLite database, the way an operator or a script runs it,
and is timed from start to exit: wall time, and the CPU time the process
used (``wait4``), which a busy machine disturbs less. The limit is 0.15 s a
command. Two floor rows show what no change to op25b can go below on this
machine: Python starting, and Python importing SQLAlchemy's ORM (which every
command that opens the database needs).

Bytecode is written to a temporary cache (``PYTHONPYCACHEPREFIX``) during
an untimed warm-up run, so op25b's modules load as they do when installed,
not compiled from source each time (the checkout may run with
PYTHONDONTWRITEBYTECODE set).

    .venv/bin/python scripts/bench_cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 0.15
COMMANDS: list[tuple[str, list[str]]] = [
    ("op25b --help", ["--help"]),
    ("op25b subscriber show A1", ["subscriber", "show", "A1"]),
    ("op25b subscriber list", ["subscriber", "list"]),
    ("op25b status", ["status"]),
    ("op25b db status", ["db", "status"]),
    ("op25b subscriber --help", ["subscriber", "--help"]),
]
FLOORS: list[tuple[str, list[str]]] = [
    ("floor: python -c pass", ["-c", "pass"]),
    ("floor: python -c 'import sqlalchemy.orm'", ["-c", "import sqlalchemy.orm"]),
]


def _environment(cache: str, db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    env["PYTHONPATH"] = str(REPO)
    env["OP25B_DB"] = db_url
    env.pop("OP25B_TZ", None)
    return env


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, cpu s) of one run of ``python ARGV``; a failed run stops the benchmark."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *argv], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"python {' '.join(argv)} failed ({process.returncode}): {stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def _setup(env: dict[str, str]) -> None:
    for argv in (["db", "init"],
                 ["switch", "add", "--dpid", "1", "--name", "edge1", "--uplink", "1"],
                 ["subscriber", "add", "--account", "A1", "--name", "Taro", "--type", "broadband",
                  "--attach", "1:3", "--prefix", "198.51.100.7/32"]):
        subprocess.run([sys.executable, "-m", "op25b_app.cli.main", *argv], env=env,
                       check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(f"{tmp}/pycache", f"sqlite:///{tmp}/bench.db")
        _setup(env)
        rows = [(label, ["-m", "op25b_app.cli.main", *argv], True) for label, argv in COMMANDS]
        rows += [(label, argv, False) for label, argv in FLOORS]
        print(f"| command | runs | median wall s | median cpu s | limit {LIMIT_S} s |")
        print("|---|---:|---:|---:|---|")
        for label, argv, limited in rows:
            _timed(argv, env)  # warm-up: writes the bytecode cache
            runs = [_timed(argv, env) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            verdict = ("ok" if wall <= LIMIT_S else "over") if limited else "-"
            print(f"| {label} | {args.runs} | {wall:.3f} | {cpu:.3f} | {verdict} |", flush=True)


if __name__ == "__main__":
    main()
