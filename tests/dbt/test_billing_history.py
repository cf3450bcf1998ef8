"""End-to-end tests of session billing and the revision history of usage logs (spec §3.3-3.5, §3.11).

One temporary DuckDB file goes through four `dbt build`s, each stage captured right after its build:

1. batch 1: a session with a failed attempt, a free retry and a paid re-transcription (s1), a lone
   original (s2) and an original of a user with no users record yet (s3, plan `free`);
2. batch 2: a late `transcription_failed` that started before s2's original (it becomes a free
   retry), a late users change that puts s3's user on `pro` since February, and a users change of
   s1's user that makes usage_logs recompute its logs without changing them;
3. the same build again with nothing new;
4. `dbt build --full-refresh` with nothing new.

dbt runs with a non-UTC session time zone (TZ) to prove the history is kept in absolute instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from dagster_project.warehouse import ensure_schema
from tests.dbt.test_usage_models import _md5, _ts, dbt_environment, insert_raw, release_dbt_connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
NON_UTC_ZONE = "America/Sao_Paulo"
INGESTED_AT = datetime(2025, 4, 10, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# helpers (the same conventions as test_usage_models.py)








def event(event_id, event_type, occurred_at, attempt_id, session_id, user_id, client_id, duration_seconds=None):
    kind = {
        "started": "transcription_started",
        "completed": "transcription_completed",
        "failed": "transcription_failed",
    }
    return {
        "event_id": event_id,
        "event_type": kind[event_type],
        "occurred_at": _ts(occurred_at),
        "attempt_id": attempt_id,
        "session_id": session_id,
        "user_id": user_id,
        "client_id": client_id,
        "stt_provider": "google",
        "language": "en-US",
        "duration_seconds": None if duration_seconds is None else Decimal(str(duration_seconds)),
        "provider_cost_usd": None,
        "error_code": "timeout" if event_type == "failed" else None,
    }


def user_change(change_id, changed_at, user_id, plan, op="insert") -> dict:
    return {
        "change_id": change_id,
        "changed_at": _ts(changed_at),
        "op": op,
        "user_id": user_id,
        "plan": plan,
        "role": "user",
        "created_at": _ts("2025-01-01T00:00:00+00:00"),
    }






def dbt_build(db_path: Path, work_dir: Path, *extra: str) -> None:
    args = [
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        *extra,
    ]
    with dbt_environment(db_path):
        try:
            result = dbtRunner().invoke(args)
        finally:
            release_dbt_connection()
    if result.exception is not None:
        raise result.exception
    failures = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success and not failures, "dbt build failed:\n" + "\n".join(failures)
    assert any(r.node.unique_id == "snapshot.coachwh.usage_logs_snapshot" for r in result.result), (
        "dbt build did not run the usage_logs snapshot"
    )


def capture(db_path: Path) -> dict:
    """usage_logs and session_billing by key, the revisions and the snapshot rows, as dicts."""
    with duckdb.connect(str(db_path), read_only=True) as conn:

        def rows(sql: str) -> list[dict]:
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        snapshot_types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'snapshots' and table_name = 'usage_logs_snapshot'"
            ).fetchall()
        )
        return {
            "logs": {row["attempt_id"]: row for row in rows("select * from marts.usage_logs")},
            "sessions": {row["session_id"]: row for row in rows("select * from marts.session_billing")},
            "revisions": rows("select * from marts.usage_log_revisions order by usage_log_id, revised_at"),
            "snapshot": rows("select * from snapshots.usage_logs_snapshot order by usage_log_id, dbt_valid_from"),
            "snapshot_types": snapshot_types,
        }


def revisions_of(stage: dict, attempt_id: str) -> list[dict]:
    return [row for row in stage["revisions"] if row["usage_log_id"] == _md5(attempt_id)]


# ---------------------------------------------------------------------------------------------
# raw data

BATCH_1_USERS = [user_change("uc1", "2025-01-01T00:00:00+00:00", "u1", "pro")]
BATCH_1_EVENTS = [
    # s1: a failure, a free retry (90 s), a paid re-transcription (60 s = 0.006), a started-only attempt
    event("e01", "started", "2025-03-02T10:00:00+00:00", "a1", "s1", "u1", "c1"),
    event("e02", "failed", "2025-03-02T10:02:00+00:00", "a1", "s1", "u1", "c1"),
    event("e03", "started", "2025-03-02T10:05:00+00:00", "a2", "s1", "u1", "c1"),
    event("e04", "completed", "2025-03-02T10:07:00+00:00", "a2", "s1", "u1", "c1", 90),
    event("e05", "started", "2025-03-02T11:00:00+00:00", "a3", "s1", "u1", "c1"),
    event("e06", "completed", "2025-03-02T11:01:00+00:00", "a3", "s1", "u1", "c1", 60),
    event("e07", "started", "2025-03-02T12:00:00+00:00", "a4", "s1", "u1", "c1"),
    # s2: an original (120 s = 0.012) that batch 2's late failure turns into a free retry
    event("e08", "started", "2025-03-15T09:05:00+00:00", "b2", "s2", "u1", "c1"),
    event("e09", "completed", "2025-03-15T09:10:00+00:00", "b2", "s2", "u1", "c1", 120),
    # s3: an original of u2, who has no users record yet (plan `free`)
    event("e10", "started", "2025-03-20T08:00:00+00:00", "c1-a", "s3", "u2", None),
    event("e11", "completed", "2025-03-20T08:01:00+00:00", "c1-a", "s3", "u2", None, 30),
]
BATCH_2_EVENTS = [
    event("e20", "started", "2025-03-15T09:00:00+00:00", "b1", "s2", "u1", "c1"),
    event("e21", "failed", "2025-03-15T09:02:00+00:00", "b1", "s2", "u1", "c1"),
]
BATCH_2_USERS = [
    user_change("uc2", "2025-02-01T00:00:00+00:00", "u2", "pro"),  # late CDC: u2 was on pro since February
    user_change("uc3", "2025-04-05T00:00:00+00:00", "u1", "pro", op="update"),  # recomputes u1's logs, changes nothing
]


# ---------------------------------------------------------------------------------------------
# fixtures: one warehouse, one build per stage


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_billing_history")


@pytest.fixture(scope="module")
def db_path(work_dir) -> Path:
    path = work_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_schema(conn)
    return path


@pytest.fixture(scope="module")
def after_batch_1(db_path, work_dir) -> dict:
    with duckdb.connect(str(db_path)) as conn:
        insert_raw(conn, "users", 1, BATCH_1_USERS)
        insert_raw(conn, "transcription_events", 1, BATCH_1_EVENTS)
    dbt_build(db_path, work_dir)
    return capture(db_path)


@pytest.fixture(scope="module")
def after_batch_2(after_batch_1, db_path, work_dir) -> dict:
    with duckdb.connect(str(db_path)) as conn:
        insert_raw(conn, "transcription_events", 2, BATCH_2_EVENTS)
        insert_raw(conn, "users", 2, BATCH_2_USERS)
    dbt_build(db_path, work_dir)
    return capture(db_path)


@pytest.fixture(scope="module")
def after_nothing_new(after_batch_2, db_path, work_dir) -> dict:
    dbt_build(db_path, work_dir)
    return capture(db_path)


@pytest.fixture(scope="module")
def after_full_refresh(after_nothing_new, db_path, work_dir) -> dict:
    dbt_build(db_path, work_dir, "--full-refresh")
    return capture(db_path)


# ---------------------------------------------------------------------------------------------
# session billing


def test_session_billing_counts_a_failure_a_free_retry_and_a_paid_retranscription(after_batch_1):
    session = after_batch_1["sessions"]["s1"]
    assert session["user_id"] == "u1"
    assert session["client_id"] == "c1"
    assert session["total_attempts"] == 4  # the started-only attempt a4 counts as an attempt
    assert session["failed_attempts"] == 1
    assert session["completed_attempts"] == 2
    assert session["free_retries"] == 1
    assert session["billable_attempts"] == 1
    assert session["total_billable_seconds"] == Decimal("60")
    assert session["total_cost_usd"] == Decimal("0.006")
    assert session["first_started_at"] == _ts("2025-03-02T10:00:00+00:00")
    assert session["last_completed_at"] == _ts("2025-03-02T11:01:00+00:00")


def test_session_billing_cost_equals_the_sum_of_the_session_usage_logs(after_batch_1, after_batch_2):
    for stage in (after_batch_1, after_batch_2):
        for session_id, session in stage["sessions"].items():
            logs = [log for log in stage["logs"].values() if log["session_id"] == session_id]
            assert session["total_cost_usd"] == sum((log["cost_usd"] for log in logs), Decimal("0"))
            assert session["completed_attempts"] == len(logs)


def test_session_billing_follows_a_late_failure_that_makes_the_original_free(after_batch_1, after_batch_2):
    before, after = after_batch_1["sessions"]["s2"], after_batch_2["sessions"]["s2"]
    assert (before["total_attempts"], before["billable_attempts"], before["total_cost_usd"]) == (1, 1, Decimal("0.012"))
    assert after["total_attempts"] == 2
    assert after["failed_attempts"] == 1
    assert after["free_retries"] == 1
    assert after["billable_attempts"] == 0
    assert after["total_billable_seconds"] == Decimal("0")
    assert after["total_cost_usd"] == Decimal("0")
    assert after["first_started_at"] == _ts("2025-03-15T09:00:00+00:00")


# ---------------------------------------------------------------------------------------------
# revision history


def test_a_first_build_records_one_version_per_log_and_no_revision(after_batch_1):
    assert after_batch_1["revisions"] == []
    assert len(after_batch_1["snapshot"]) == len(after_batch_1["logs"]) == 4
    assert all(row["dbt_valid_to"] is None for row in after_batch_1["snapshot"])


def test_the_snapshot_timestamps_are_timestamptz_instants_of_the_log_computation(after_batch_1):
    types = after_batch_1["snapshot_types"]
    for column in ("dbt_valid_from", "dbt_valid_to", "dbt_updated_at", "computed_at"):
        assert types[column] == "TIMESTAMP WITH TIME ZONE"
    for row in after_batch_1["snapshot"]:
        assert row["dbt_valid_from"] == row["computed_at"]


def test_a_late_failure_that_turns_an_original_into_a_free_retry_produces_exactly_one_revision(after_batch_2):
    (revision,) = revisions_of(after_batch_2, "b2")
    log = after_batch_2["logs"]["b2"]
    assert revision["reason"] == "late_event_reclassified"
    assert revision["attempt_id"] == "b2"
    assert revision["user_id"] == "u1"
    assert revision["usage_month"].isoformat() == "2025-03-01"
    assert (revision["old_transcription_type"], revision["new_transcription_type"]) == ("original", "retry_failed")
    assert (revision["old_is_billable"], revision["new_is_billable"]) == (True, False)
    assert (revision["old_billing_reason"], revision["new_billing_reason"]) == (
        "original_transcription",
        "failure_retry_no_charge",
    )
    assert (revision["old_cost_usd"], revision["new_cost_usd"]) == (Decimal("0.012"), Decimal("0"))
    assert revision["delta_cost_usd"] == -revision["old_cost_usd"]
    assert revision["version_number"] == 2
    assert revision["source_batch_id"] == 2
    assert revision["revised_at"] == log["computed_at"]  # when usage_logs restated it


def test_a_late_users_change_is_recorded_as_a_late_plan_change(after_batch_2):
    (revision,) = revisions_of(after_batch_2, "c1-a")
    assert revision["reason"] == "late_plan_change"
    assert (revision["old_plan_at_usage"], revision["new_plan_at_usage"]) == ("free", "pro")
    assert revision["delta_cost_usd"] == Decimal("0")


def test_logs_recomputed_without_a_change_get_no_revision(after_batch_1, after_batch_2):
    # u1's users change made usage_logs recompute a2 and a3 (new computed_at) with the same values
    for attempt_id in ("a2", "a3"):
        assert after_batch_2["logs"][attempt_id]["computed_at"] > after_batch_1["logs"][attempt_id]["computed_at"]
        assert after_batch_2["logs"][attempt_id]["users_batch_id"] == 2
    assert {row["attempt_id"] for row in after_batch_2["revisions"]} == {"b2", "c1-a"}
    assert len(after_batch_2["snapshot"]) == len(after_batch_1["snapshot"]) + 2


def test_a_second_build_with_nothing_new_adds_no_revision(after_batch_2, after_nothing_new):
    assert after_nothing_new["revisions"] == after_batch_2["revisions"]
    assert after_nothing_new["snapshot"] == after_batch_2["snapshot"]


def test_a_full_refresh_keeps_every_revision_and_the_snapshot(after_nothing_new, after_full_refresh):
    assert after_full_refresh["revisions"] == after_nothing_new["revisions"]
    assert after_full_refresh["snapshot"] == after_nothing_new["snapshot"]
    assert len(after_full_refresh["revisions"]) == 2
    assert after_full_refresh["sessions"] == after_nothing_new["sessions"]


def test_each_restatement_gets_exactly_one_audit_record_with_old_and_new_values(after_full_refresh, db_path):
    from dagster_project.audit.trail import verify
    from dagster_project.defs.usage.assets import record_restatements

    with duckdb.connect(str(db_path)) as conn:
        assert record_restatements(conn, "run-1", "tester") == 2
        assert record_restatements(conn, "run-2", "tester") == 0  # already recorded: not again
        records = conn.execute(
            "select entity_id, before_values->>'transcription_type', after_values->>'transcription_type', reason "
            "from audit.audit_logs where operation = 'usage_restatement' order by entity_id"
        ).fetchall()
        assert verify(conn).ok
    revision = revisions_of(after_full_refresh, "b2")[0]
    assert (revision["usage_log_id"], "original", "retry_failed", revision["reason"]) in records
    assert len(records) == 2


def test_session_billing_built_incrementally_equals_a_full_rebuild(after_batch_2, after_full_refresh):
    # Batch 2 recomputed only the sessions it touched; the full refresh recomputed them all.
    assert after_batch_2["sessions"] == after_full_refresh["sessions"]
