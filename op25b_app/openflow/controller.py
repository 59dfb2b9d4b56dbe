"""``op25b-controller``: ryu-manager with the op25b application loaded.

Every ``ryu-manager`` option works unchanged (``--ofp-tcp-listen-port``,
``--config-file``, ``--wsapi-port``, ``--verbose`` ...), extra Ryu apps can be
named on the command line, and op25b's own options appear under ``--op25b-*``
(or an ``[op25b]`` section of the config file).

SIGTERM is turned into the same orderly shutdown as SIGINT (Ryu closes its
apps and returns), so service managers see exit status 0.
"""

from __future__ import annotations

import logging
import signal
import sys

from op25b_app import __version__

APP_MODULE = "op25b_app.openflow.app"

LOG = logging.getLogger(__name__)


def _import_before_monkey_patching() -> None:
    """Import the PostgreSQL driver before Ryu's manager monkey-patches the stdlib.

    psycopg subscripts ``queue.Queue`` at import time; after eventlet's
    patching that name is eventlet's green Queue, which is not subscriptable,
    and the import fails inside the controller. Imported first, psycopg keeps
    the real classes (its blocking calls run on native threads anyway).
    """
    try:
        import psycopg  # noqa: F401
        import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
    except ImportError:  # PostgreSQL support is optional at run time
        LOG.debug("psycopg not importable; PostgreSQL URLs will not work")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    from op25b_app.openflow import ryu_compat

    if "--version" in args:
        print(f"op25b {__version__} (ryu {ryu_compat.ryu_version})")
        return 0
    # Importing the app registers its options before Ryu parses the command line.
    import op25b_app.openflow.app  # noqa: F401

    _import_before_monkey_patching()

    from op25b_app.openflow.eventlet_compat import stop_main_on_signals

    signalled = stop_main_on_signals((signal.SIGTERM, signal.SIGINT))
    if APP_MODULE not in args:
        args.append(APP_MODULE)
    try:
        ryu_compat.run_manager(args)
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # oslo.config exits on --help / bad options
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if signalled():
        LOG.info("stopped by signal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
