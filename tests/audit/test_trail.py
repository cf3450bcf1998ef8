"""The audit trail's hash chain: appended in the caller's transaction, and any tampering detected."""

from __future__ import annotations

import pytest

from dagster_project.audit.trail import GENESIS_HASH, record, verify
from dagster_project.cli import main


def _three_records(conn) -> None:
    conn.execute("begin transaction")
    record(conn, "gdpr_erasure", entity_type="client", entity_id="p1", counts={"vault_rows": 3}, reason="asked")
    record(conn, "retention_run", counts={"session_detail_free": 12}, before={"a": 1}, after={"a": 2})
    record(conn, "anonymized_refresh", entity_type="schema", entity_id="anonymized")
    conn.execute("commit")


def test_an_untouched_chain_verifies_and_links_each_record_to_the_previous_one(conn):
    _three_records(conn)
    status = verify(conn)
    assert status.ok and status.count == 3
    rows = conn.execute("select prev_hash, record_hash from audit.audit_logs order by sequence_number").fetchall()
    assert rows[0][0] == GENESIS_HASH and rows[1][0] == rows[0][1] and rows[2][0] == rows[1][1]
    assert status.head_hash == rows[2][1]


def test_a_record_written_in_a_rolled_back_transaction_leaves_no_trace(conn):
    conn.execute("begin transaction")
    record(conn, "gdpr_erasure", entity_id="x")
    conn.execute("rollback")
    assert verify(conn).count == 0


@pytest.mark.parametrize(("tamper", "sequence"), [
    ("update audit.audit_logs set reason = 'nobody asked' where sequence_number = 1", 1),
    ("update audit.audit_logs set counts = '{\"vault_rows\": 4}' where sequence_number = 1", 1),
    ("update audit.audit_logs set actor = 'someone else' where sequence_number = 3", 3),
    ("update audit.audit_logs set occurred_at = occurred_at + interval 1 second where sequence_number = 2", 2),
    ("update audit.audit_logs set after_values = '{\"a\": 3}' where sequence_number = 2", 2),
])
def test_editing_any_field_of_any_record_is_detected_at_that_record(conn, tamper, sequence):
    _three_records(conn)
    conn.execute(tamper)
    status = verify(conn)
    assert not status.ok and status.broken_at == sequence and "edited" in status.problem


def test_deleting_or_reordering_records_is_detected(conn):
    _three_records(conn)
    conn.execute("delete from audit.audit_logs where sequence_number = 2")
    assert verify(conn).broken_at == 3
    conn.execute("update audit.audit_logs set sequence_number = 2 where sequence_number = 3")
    status = verify(conn)
    assert not status.ok and status.broken_at == 2 and "prev_hash" in status.problem


def test_verify_against_a_digest_kept_outside_needs_the_chain_to_still_contain_it(conn):
    _three_records(conn)
    head = verify(conn).head_hash
    record(conn, "retention_run")
    assert verify(conn, against=head).ok
    assert not verify(conn, against="f" * 64).ok


def test_the_cli_prints_ok_with_count_and_head_and_the_digest(conn, settings, capsys):
    _three_records(conn)
    head = verify(conn).head_hash
    conn.close()
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.strip() == f"OK: 3 records, head {head}"
    assert main(["audit", "digest"]) == 0
    assert capsys.readouterr().out.strip() == head
    assert main(["audit", "verify", "--against", "0" * 63 + "1"]) == 1


def test_a_config_change_is_recorded_once_with_before_and_after(conn, settings, monkeypatch):
    from dagster_project.audit.config_changes import record_config_change
    from dagster_project.config import Settings

    assert record_config_change(conn, settings) is True  # the first configuration seen
    assert record_config_change(conn, settings) is False  # nothing changed: no record
    monkeypatch.setenv("COACHWH_GRACE_DAYS", "5")
    assert record_config_change(conn, Settings.from_env()) is True
    before, after, reason = conn.execute(
        "select before_values->>'grace_days', after_values->>'grace_days', reason from audit.audit_logs "
        "where operation = 'config_change' order by sequence_number desc limit 1"
    ).fetchall()[0]
    assert (before, after, reason) == ("3", "5", "changed: grace_days")
    assert verify(conn).ok


def test_truncating_the_tail_after_a_kept_digest_is_caught_by_verify_against(conn):
    _three_records(conn)
    kept = verify(conn).head_hash  # kept outside the warehouse
    conn.execute("delete from audit.audit_logs where sequence_number = 3")
    assert verify(conn).ok  # the shortened chain is consistent in itself...
    status = verify(conn, against=kept)
    assert not status.ok and kept in status.problem  # ...but no longer extends the kept digest


def test_swapping_two_records_is_caught_at_the_first_of_them(conn):
    _three_records(conn)
    conn.execute("update audit.audit_logs set sequence_number = 99 where sequence_number = 1")
    conn.execute("update audit.audit_logs set sequence_number = 1 where sequence_number = 2")
    conn.execute("update audit.audit_logs set sequence_number = 2 where sequence_number = 99")
    status = verify(conn)
    assert not status.ok and status.broken_at == 1
