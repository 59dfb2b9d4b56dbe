"""The command line's own errors and its exit statuses.

Every module of the CLI raises these instead of printing and exiting, so
``main`` is the one place that turns a failure into one line on stderr and
an exit status. They live apart from ``main`` so that a command module can
raise them without importing the module that imports it.

Exit status: 0 success; 2 bad input (one line on stderr naming the field and
value, nothing written); 1 anything else the operator must fix outside the
command (database unreachable or not upgraded, malformed stored data).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """A command-line mistake argparse (or a command's own check) detected: exit 2, one line."""

    @classmethod
    def of(cls, prog: str, message: str) -> UsageError:
        """The error in argparse's wording, on one line, pointing to ``--help``."""
        return cls(f"{prog}: error: {message} (see --help)")


class CommandFailed(Exception):
    """The command could not be carried out for a reason outside its input (exit 1)."""
