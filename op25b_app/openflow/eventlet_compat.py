"""What op25b needs from eventlet itself: the Ryu import fix and orderly signals.

Make Ryu 4.34 importable with the eventlet releases that run on Python 3.11.

Ryu's ``ryu.app.wsgi`` does ``from eventlet.wsgi import ALREADY_HANDLED`` at
import time, and eventlet removed that name (0.30.x, which still had it, does
not run on Python 3.11). Ryu only uses it as an identity sentinel returned by
WSGI handlers that wrote the response themselves, so any unique object
restores the old behaviour. This must run before anything imports ``ryu``;
``op25b_app.openflow.ryu_compat`` calls it first thing, so every Ryu import in op25b
goes through here.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

import eventlet.wsgi
import greenlet
from eventlet import hubs

_SENTINEL_NAME = "ALREADY_HANDLED"


def apply() -> None:
    """Install the sentinel if this eventlet lacks it (idempotent)."""
    if not hasattr(eventlet.wsgi, _SENTINEL_NAME):
        setattr(eventlet.wsgi, _SENTINEL_NAME, object())


def stop_main_on_signals(signals: tuple[int, ...]) -> Callable[[], bool]:
    """Make ``signals`` stop the process in order, whichever green thread they land in.

    Ryu's manager stops when its *main* green thread sees KeyboardInterrupt
    (it then closes every app and returns). Python runs a signal handler in
    whatever green thread happens to be running: raising there kills only
    that thread (the hub logs it) and the controller keeps running. So the
    handler raises only when it runs in the main green thread, and otherwise
    asks the hub to throw the interrupt into the main one at once. A second
    signal while stopping is ignored. The handler does no logging: a signal
    may interrupt code that holds the logging lock. Must be called from the
    main green thread; returns a function telling whether a signal arrived.
    """
    main = greenlet.getcurrent()
    stopping: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stopping:
            return
        stopping.append(signum)
        interrupt = KeyboardInterrupt(f"signal {signum}")
        if greenlet.getcurrent() is main:
            raise interrupt
        hubs.get_hub().schedule_call_global(0, main.throw, interrupt)

    for signum in signals:
        signal.signal(signum, handler)
    return lambda: bool(stopping)
