"""Bulk subscriber import (an upsert keyed by account) and export.

The unit of exchange is a ``SubscriberRecord`` (``import_records``): one
attachment point of one subscriber, every field as text, exactly as a CSV
row carries it (``csv_records`` reads and writes those files; the REST API
hands JSON rows to the same code).

Why it is shaped like this:

* **Same rules as one-at-a-time writes.** Every field goes through the
  service's own parsers, and every database rule through the shared
  ``rules`` with the same messages; only the data they are checked against
  is preloaded in bulk instead of queried per row, because 100k single-row
  queries take minutes (``import_parse``, ``import_lookups``, ``import_plan``).
* **Every bad line, not the first.** Checks continue after a failure;
  nothing is written unless no line failed.
* **All or nothing, one transaction.** Validation runs inside the write
  transaction, under the policy write lock, so nothing can change between
  the checks and the writes (``import_apply``); the audit entries are
  written in the same transaction.
* **Upsert semantics.** An account in the file ends up with exactly the
  file's name, type, opt-out and attachments; accounts not in the file are
  untouched. Re-importing an export (``export``) changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from op25b_app.core.gc_pause import gc_paused
from op25b_app.service.import_records import (
    ImportProblem,
    ImportProgress,
    ImportResult,
    SubscriberRecord,
)
from op25b_app.service.transactions import ServiceBase

log = logging.getLogger(__name__)


class BulkImportOps(ServiceBase):
    """Mixed into ``PolicyService``: import and export of subscribers as records."""

    def import_subscribers(
        self,
        records: Sequence[SubscriberRecord],
        *,
        dry_run: bool = False,
        source: str = "",
        prior_problems: Sequence[ImportProblem] = (),
        progress: ImportProgress | None = None,
    ) -> ImportResult:
        """Upsert subscribers by account from records (one per attachment point).

        All or nothing: any bad record raises ``ImportRejected`` listing every
        bad line and nothing is written. ``prior_problems`` are lines the
        caller could not even turn into records (say, a CSV line with too
        many fields): they are reported together with the rest and also
        reject the import. ``dry_run`` checks everything and reports what
        would change without writing.
        """
        # Imported here: the import machinery is most of the service's code,
        # and every other command starts faster without loading it.
        from op25b_app.service.import_apply import apply_import
        from op25b_app.service.import_plan import plan_import

        now = self._clock()
        check_only = dry_run or bool(prior_problems)
        revision = None
        # A 100k-row import allocates hundreds of thousands of small objects
        # without cycles; collector passes over them only cost time.
        with gc_paused():
            if check_only:
                with self._read() as session:
                    plan = plan_import(session, records, tz=self._tz, now=now,
                                       prior_problems=prior_problems, progress=progress)
            else:
                with self._write() as session:
                    plan = plan_import(session, records, tz=self._tz, now=now,
                                       progress=progress)
                    recorder = self._audit(session)
                    apply_import(session, plan, recorder, now=now, source=source,
                                 progress=progress)
                revision = recorder.revision_after
        result = plan.result(dry_run=check_only, revision=revision)
        log.info(
            "import%s of %s: %d row(s), %d added, %d updated, %d unchanged",
            " (dry run)" if result.dry_run else "",
            source or "records",
            result.rows,
            result.added,
            result.updated,
            result.unchanged,
        )
        return result

    def export_subscribers(self) -> list[SubscriberRecord]:
        """Every subscriber as import records, by account (times in the configured zone)."""
        from op25b_app.service.export import export_records  # see import_subscribers

        with gc_paused(), self._read() as session:
            return export_records(session, self._tz)
