"""Reading the shipped deployment files the way their consumers do.

systemd unit files repeat keys (``SystemCallFilter=`` twice) and allow
comments anywhere, so ``configparser`` cannot read them; ``read_unit`` keeps
every assignment in order. The tests substitute the install paths the units
name (``/opt/op25b/bin``, ``/etc/op25b``) to run their commands from this
checkout.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = DEPLOY / "systemd"
ETC = DEPLOY / "etc" / "op25b"
UNIT_NAMES = ("op25b-controller.service", "op25b-api.service", "op25b-radius.service")
INSTALL_BIN = "/opt/op25b/bin/"
INSTALL_ETC = "/etc/op25b/"


def read_unit(path: Path) -> list[tuple[str, str, str]]:
    """Every ``(section, key, value)`` of a unit file, in order, repeats kept."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not an assignment: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(path: Path, key: str, section: str = "Service") -> list[str]:
    """All values of ``key`` in ``section`` (a repeated key gives several)."""
    return [v for s, k, v in read_unit(path) if s == section and k == key]


def value(path: Path, key: str, section: str = "Service") -> str:
    """The one value of ``key``; fails when the key is missing or repeated."""
    found = values(path, key, section)
    assert len(found) == 1, f"{path.name}: [{section}] {key}= set {len(found)} times"
    return found[0]


def local_command(exec_start: str, etc: Path) -> list[str]:
    """A unit's ``ExecStart=`` as a command of this checkout's Python and ``etc``.

    ``/opt/op25b/bin/op25b-controller`` becomes ``python -m
    op25b_app.openflow.controller``, ``/opt/op25b/bin/op25b`` ``python -m
    op25b_app.cli.main``, and ``/etc/op25b/`` the directory ``etc``.
    """
    modules = {"op25b-controller": "op25b_app.openflow.controller", "op25b": "op25b_app.cli.main"}
    words = shlex.split(exec_start)
    program = words[0]
    assert program.startswith(INSTALL_BIN), f"ExecStart outside {INSTALL_BIN}: {program}"
    command = [sys.executable, "-m", modules[program[len(INSTALL_BIN):]]]
    return command + [w.replace(INSTALL_ETC, f"{etc}/") for w in words[1:]]
