"""The database layer's defaults that are shown before any database is opened.

Apart from ``engine`` so that ``op25b --help`` can name the default URL
without importing SQLAlchemy (most of the command line's start-up time).
"""

from __future__ import annotations

#: The database every op25b program uses when none is given.
DEFAULT_DB_URL = "sqlite:///op25b.db"
