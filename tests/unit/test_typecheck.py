"""The library's type hints hold: mypy over ``op25b_app`` reports nothing.

Type hints that are never checked drift from the code (a mis-typed SQLAlchemy
table, an ``int | None`` used as an ``int``); running mypy in the suite keeps
them honest. Configuration is ``[mypy]`` in setup.cfg.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_reports_no_errors_in_the_library() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "op25b_app"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
