"""The ``op25b`` command groups, one module each: its sub-parser and its handlers.

``register_all`` adds them in the order ``op25b --help`` lists them.
"""

from __future__ import annotations

from op25b_app.cli.commands import (
    api,
    audit,
    connection_type,
    db,
    doctor,
    enforcement,
    export,
    mta,
    policy,
    report,
    status,
    subscriber,
    switch,
)
from op25b_app.cli.parser import CommandTree

_GROUPS = (db, status, audit, switch, connection_type, subscriber, mta, enforcement, report,
           policy, api, doctor, export)


def register_all(tree: CommandTree) -> None:
    """Add every command group to ``tree``."""
    for group in _GROUPS:
        group.register(tree)
