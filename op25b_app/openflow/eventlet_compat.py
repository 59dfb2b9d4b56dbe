"""Make Ryu 4.34 importable with the eventlet releases that run on Python 3.11.

Ryu's ``ryu.app.wsgi`` does ``from eventlet.wsgi import ALREADY_HANDLED`` at
import time, and eventlet removed that name (0.30.x, which still had it, does
not run on Python 3.11). Ryu only uses it as an identity sentinel returned by
WSGI handlers that wrote the response themselves, so any unique object
restores the old behaviour. This must run before anything imports ``ryu``;
``op25b_app.openflow.ryu_compat`` calls it first thing, so every Ryu import in op25b
goes through here.
"""

from __future__ import annotations

import eventlet.wsgi

_SENTINEL_NAME = "ALREADY_HANDLED"


def apply() -> None:
    """Install the sentinel if this eventlet lacks it (idempotent)."""
    if not hasattr(eventlet.wsgi, _SENTINEL_NAME):
        setattr(eventlet.wsgi, _SENTINEL_NAME, object())
