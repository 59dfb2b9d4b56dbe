"""The change log and the patched snapshot: equal to a full load, or None.

Every write path (the service, raw SQL, one statement touching many rows)
logs the rows it touched in the same transaction; a snapshot patched from
the log equals the snapshot loaded in full, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.db.change_log import prune, read_changes
from op25b_app.db.engine import read_connection
from op25b_app.db.snapshot_loader import load_snapshot
from op25b_app.db.snapshot_patch import attachment_index, load_patch
from op25b_app.service import AttachmentSpec, PolicyService

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def _service(engine: sa.Engine) -> PolicyService:
    svc = PolicyService(engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1", uplinks=[1])
    svc.add_switch(2, "edge2", uplinks=[1])
    for i in range(20):
        svc.add_subscriber(f"S{i}", "", "broadband",
                           [AttachmentSpec(1 + i % 2, 2 + i % 3, None, (f"10.0.{i}.1/32",))])
    return svc


def _comparable(snap: PolicySnapshot) -> tuple:
    return (snap.revision,
            {dpid: sorted(snap.attachments_for(dpid), key=lambda r: r.attachment_id)
             for dpid in snap.attachments if snap.attachments_for(dpid)},
            snap.quarantined)


def _patched_equals_full(engine: sa.Engine, base: PolicySnapshot) -> PolicySnapshot:
    patch = load_patch(engine, base, attachment_index(base))
    assert patch is not None
    full = load_snapshot(engine)
    assert _comparable(patch.snapshot) == _comparable(full)
    assert patch.dpid_of == attachment_index(full)
    return patch.snapshot


def test_every_kind_of_subscriber_change_patches_to_the_full_load(db_engine: sa.Engine) -> None:
    svc = _service(db_engine)
    base = load_snapshot(db_engine)
    svc.add_subscriber("NEW", "", "broadband", [AttachmentSpec(2, 7, 100, ("10.9.0.0/24",))])
    base = _patched_equals_full(db_engine, base)
    svc.exempt_subscriber("S3", "own MTA")
    base = _patched_equals_full(db_engine, base)
    svc.set_subscriber_type("S4", "dialup")
    base = _patched_equals_full(db_engine, base)
    svc.add_attachments("S5", [AttachmentSpec(1, 9, None, ())])
    base = _patched_equals_full(db_engine, base)
    [attachment] = [a for a in svc.show_subscriber("S5").attachments if a.port == 9]
    svc.remove_attachment("S5", attachment.id)
    base = _patched_equals_full(db_engine, base)
    svc.remove_subscriber("S6")  # its attachments go by cascade: logged too
    base = _patched_equals_full(db_engine, base)
    assert "S6" not in {r.account for dpid in base.attachments for r in base.attachments_for(dpid)}


def test_raw_sql_touching_many_rows_in_one_statement_is_logged(db_engine: sa.Engine) -> None:
    _service(db_engine)
    base = load_snapshot(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE subscribers SET exempt = :t WHERE account LIKE 'S1%'"),
                     {"t": True})
        conn.execute(sa.text("UPDATE attachments SET port = 11 WHERE port = 2"))
    _patched_equals_full(db_engine, base)


def test_what_a_patch_cannot_do_reloads_everything(db_engine: sa.Engine) -> None:
    svc = _service(db_engine)
    base = load_snapshot(db_engine)
    svc.add_mta("relay", "192.0.2.25/32")
    assert load_patch(db_engine, base, attachment_index(base)) is None
    base = load_snapshot(db_engine)
    with db_engine.begin() as conn:  # the revision moves and nothing is logged
        conn.execute(sa.text("UPDATE policy_revision SET revision = revision + 5"))
    assert load_patch(db_engine, base, attachment_index(base)) is None


def test_an_unchanged_database_patches_to_itself(db_engine: sa.Engine) -> None:
    _service(db_engine)
    base = load_snapshot(db_engine)
    patch = load_patch(db_engine, base, attachment_index(base))
    assert patch is not None and patch.snapshot == base and not patch.removed


def test_pruned_history_means_a_full_reload(db_engine: sa.Engine) -> None:
    svc = _service(db_engine)
    base = load_snapshot(db_engine)
    svc.exempt_subscriber("S1", "own MTA")
    assert prune(db_engine, NOW + dt.timedelta(days=3650)) > 0
    with read_connection(db_engine) as conn:
        assert read_changes(conn, base.revision) is None  # the rows it needs are gone
    assert load_patch(db_engine, base, attachment_index(base)) is None
    current = load_snapshot(db_engine)
    with read_connection(db_engine) as conn:
        changes = read_changes(conn, current.revision)
    assert changes is not None and changes.empty  # from here on it is exact again


def test_a_session_change_beside_an_attachment_change_reloads_everything(
        db_engine: sa.Engine) -> None:
    # A session is logged as ('sessions', id): not patchable row by row, so the
    # change is never lost behind an attachment change in the same interval.
    svc = _service(db_engine)
    base = load_snapshot(db_engine)
    svc.open_session(nas="bng1", session_id="s-1", account="S1", dpid=1, port=7,
                     addresses=["198.51.100.7"])
    svc.set_subscriber_type("S2", "dialup")
    assert load_patch(db_engine, base, attachment_index(base)) is None
    full = load_snapshot(db_engine)
    assert any(r.prefix is not None and str(r.prefix) == "198.51.100.7/32"
               for r in full.attachments_for(1))
    # With a session in the snapshot, later patches are full loads too: a
    # session rule follows its account's subscriber row.
    svc.set_subscriber_type("S1", "dialup")
    assert load_patch(db_engine, full, attachment_index(full)) is None
