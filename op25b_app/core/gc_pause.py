"""One context manager that pauses Python's cyclic garbage collector.

op25b's bulk paths allocate hundreds of thousands of small objects that never
form reference cycles. The objects are snapshot rows, FlowSpec tuples, and the
rows and networks of an import. Each burst of allocations triggers
generation-2 collections. Those walk every live object, a large snapshot
included, and find nothing. Measured effect of pausing:
* loading a 100k-subscriber snapshot: about a third faster
  (``scripts/bench_policy.py``);
* compiling its 100k attachments: the collections had more than doubled
  the compile time;
* a 100k-line CSV import: 30-40% faster (``scripts/bench_import.py``).

Reference counting still frees everything. The collector's previous state is
restored even on error, and it is left off if the caller had already turned it off.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic collector for the ``with`` block (see the module docstring)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
