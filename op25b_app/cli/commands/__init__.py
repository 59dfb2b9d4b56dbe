"""The ``op25b`` command groups, one module each: its sub-parser and its handlers.

``GROUPS`` lists them in the order ``op25b --help`` shows them, each with
its one help line. ``register_all`` imports a group's module only when that
group is the one being run (``only``); every other group is a placeholder
with its name and help line. So ``op25b --help`` imports no command module,
and ``op25b subscriber show`` never imports the REST API's server code.
Each module takes its help line from here (``summary``), so the two cannot
drift apart; ``api`` (the API's own module) is checked by a test.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from op25b_app.cli.parser import CommandTree


class Group(NamedTuple):
    """One ``op25b GROUP``: its name, its module in this package, its help line."""

    name: str
    module: str
    summary: str


GROUPS: tuple[Group, ...] = (
    Group("db", "db", "create or upgrade the database schema"),
    Group("status", "status", "what each controller reports about each switch"),
    Group("audit", "audit", "who changed what, when (newest first)"),
    Group("switch", "switch", "register the OpenFlow switches op25b programs"),
    Group("type", "connection_type", "connection types (broadband, dialup, ...)"),
    Group("subscriber", "subscriber", "subscribers, their attachments and opt-outs"),
    Group("mta", "mta", "the ISP's own mail relays (TCP/25 to them passes)"),
    Group("enforcement", "enforcement",
          "monitor before enforcing, and the enforcement start time"),
    Group("report", "report", "who sends TCP/25 to non-MTA destinations"),
    Group("policy", "policy", "inspect the compiled policy"),
    Group("api", "api", "run the REST API (its own process beside the controller)"),
    Group("customer-page", "customer",
          "serve the customers' \"Am I affected?\" page (public, no token)"),
    Group("session", "session", "dynamic subscribers: RADIUS and DHCP sessions"),
    Group("radius", "radius",
          "run the RADIUS accounting server (dynamic subscribers; its own process)"),
    Group("doctor", "doctor",
          "check the database, controllers, switches, metrics and TLS; say what to fix"),
    Group("export", "export", "publish what op25b enforces to others"),
)


def summary(name: str) -> str:
    """The help line of group ``name`` (what ``op25b --help`` lists)."""
    return next(group.summary for group in GROUPS if group.name == name)


def register_all(tree: CommandTree, only: str | None = None) -> None:
    """Add every command group to ``tree``; with ``only``, every other group is a
    placeholder (see the module docstring) and its module is not imported."""
    for group in GROUPS:
        if only is None or group.name == only:
            importlib.import_module(f"{__name__}.{group.module}").register(tree)
        else:
            tree.placeholder(group.name, group.summary)
