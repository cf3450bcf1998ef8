"""End-to-end tests of the dbt usage models (spec §3.1-3.7, §3.11) on a small hand-made warehouse.

One temporary DuckDB file goes through the life of a real warehouse, one `dbt build` per stage:

1. batch 1: users, clients and transcription events covering every classification case;
2. batch 2: a late `transcription_failed` that precedes a logged attempt, a new completion, a late
   users change that changes plan_at_usage, and hard deletes (`op: delete`) of a user and a client;
3. `dbt build --full-refresh` with nothing new;
4. a fresh warehouse loaded with the same raw rows and built once, to compare with the
   incremental result.

Each stage's tables are captured right after its build, so the tests read snapshots and do not
depend on their order. dbt runs with a non-UTC session time zone (TZ) to prove months are UTC.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner

from dagster_project.warehouse import ensure_schema

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
NON_UTC_ZONE = "America/Sao_Paulo"  # UTC-03:00: 2025-04-01 01:30Z is still March there
INGESTED_AT = datetime(2025, 4, 10, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# helpers


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def insert_raw(conn: duckdb.DuckDBPyConnection, stream: str, batch_id: int, rows: list[dict]) -> None:
    """Insert rows into raw.<stream> the way ingestion does, every metadata column filled."""
    column_types = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [stream],
        ).fetchall()
    )
    columns = list(column_types)
    source_file = f"{stream}/batch-{batch_id:03d}.jsonl"
    for line_number, row in enumerate(rows, start=1):
        unknown = set(row) - set(columns)
        assert not unknown, f"raw.{stream} has no columns {unknown}"
        digest = hashlib.md5(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
        # the record hash is a hex string or a 128-bit integer, whichever ingestion declares
        record_hash = digest if column_types["_record_hash"] == "VARCHAR" else str(int(digest, 16))
        record = {
            **row,
            "_batch_id": batch_id,
            "_source_file": source_file,
            "_line_number": line_number,
            "_record_hash": record_hash,
            "_extra_fields": None,
            "_ingested_at": INGESTED_AT,
        }
        values = [record.get(name) for name in columns]
        placeholders = ", ".join("?" for _ in columns)
        conn.execute(f"insert into raw.{stream} ({', '.join(columns)}) values ({placeholders})", values)


def event(
    event_id,
    event_type,
    occurred_at,
    attempt_id,
    session_id,
    user_id,
    client_id,
    provider,
    duration_seconds=None,
    provider_cost_usd=None,
    error_code=None,
) -> dict:
    kind = {
        "started": "transcription_started",
        "completed": "transcription_completed",
        "failed": "transcription_failed",
    }[event_type]
    return {
        "event_id": event_id,
        "event_type": kind,
        "occurred_at": _ts(occurred_at),
        "attempt_id": attempt_id,
        "session_id": session_id,
        "user_id": user_id,
        "client_id": client_id,
        "stt_provider": provider,
        "language": "en-US",
        "duration_seconds": None if duration_seconds is None else Decimal(str(duration_seconds)),
        "provider_cost_usd": None if provider_cost_usd is None else Decimal(str(provider_cost_usd)),
        "error_code": error_code,
    }


def user_change(change_id, changed_at, op, user_id, plan) -> dict:
    return {
        "change_id": change_id,
        "changed_at": _ts(changed_at),
        "op": op,
        "user_id": user_id,
        "plan": plan,
        "role": None if op == "delete" else "user",
        "created_at": _ts("2025-01-01T00:00:00+00:00"),
    }


def client_change(change_id, changed_at, op, client_id, user_id) -> dict:
    return {
        "change_id": change_id,
        "changed_at": _ts(changed_at),
        "op": op,
        "client_id": client_id,
        "user_id": user_id,
        "source": "referral",
        "client_type": "paid",
        "status": "in_progress",
        "is_active": op != "delete",
        "deleted_at": None,
        "deleted_by": None,
        "created_at": _ts("2025-01-01T00:00:00+00:00"),
    }


@contextmanager
def dbt_environment(db_path: Path) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("COACHWH_DUCKDB_PATH", "COACHWH_DBT_TARGET", "TZ")}
    os.environ["COACHWH_DUCKDB_PATH"] = str(db_path)
    os.environ.pop("COACHWH_DBT_TARGET", None)
    os.environ["TZ"] = NON_UTC_ZONE
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def release_dbt_connection() -> None:
    """dbt-duckdb keeps its DuckDB instance open in-process after an invocation; close it so this
    process can open the file again (DuckDB refuses a second instance with another config)."""
    environment = DuckDBConnectionManager._ENV
    DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()
    gc.collect()


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


def snapshot(db_path: Path) -> dict[str, dict]:
    """usage_logs by attempt_id and usage_analytics by (user_id, usage_month), as dicts."""
    with duckdb.connect(str(db_path), read_only=True) as conn:

        def rows(sql: str) -> list[dict]:
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        logs = rows("select * from marts.usage_logs")
        analytics = rows("select * from marts.usage_analytics")
        attempts = rows("select * from intermediate.int_transcription_attempts")
    return {
        "logs": {row["attempt_id"]: row for row in logs},
        "log_count": len(logs),
        "analytics": {(row["user_id"], row["usage_month"].isoformat()): row for row in analytics},
        "analytics_count": len(analytics),
        "attempts": {row["attempt_id"]: row for row in attempts},
    }


def without_computed_at(rows: dict) -> dict:
    """Snapshot rows without computed_at (the time a row was last recomputed)."""
    return {key: {k: v for k, v in row.items() if k != "computed_at"} for key, row in rows.items()}


# ---------------------------------------------------------------------------------------------
# the raw data of the two batches

BATCH_1_USERS = [
    user_change("uc1", "2025-01-01T00:00:00+00:00", "insert", "u1", "pro"),
    user_change("uc2", "2025-01-01T00:00:00+00:00", "insert", "u2", "free"),
    user_change("uc3", "2025-03-10T00:00:00+00:00", "update", "u2", "student"),
    # u3 has no users record in batch 1: plan `free`
]
BATCH_1_CLIENTS = [
    client_change("cc1", "2025-01-01T00:00:00+00:00", "insert", "c1", "u1"),
    client_change("cc2", "2025-01-01T00:00:00+00:00", "insert", "c2", "u2"),
]
BATCH_1_EVENTS = [
    # s1: a lone completion -> original; 3 s of assemblyai = 0.0000325 -> 0.000033 (estimated provider cost)
    event("e01", "started", "2025-03-01T10:00:00+00:00", "a1", "s1", "u1", "c1", "assemblyai"),
    event("e02", "completed", "2025-03-01T10:01:00+00:00", "a1", "s1", "u1", "c1", "assemblyai", 3),
    # s2: failure -> retry_failed (free) -> retry_success (billable)
    event("e03", "started", "2025-03-02T10:00:00+00:00", "a2", "s2", "u1", "c1", "google"),
    event("e04", "failed", "2025-03-02T10:02:00+00:00", "a2", "s2", "u1", "c1", "google", error_code="timeout"),
    event("e05", "started", "2025-03-02T10:05:00+00:00", "a3", "s2", "u1", "c1", "google"),
    event("e06", "completed", "2025-03-02T10:07:00+00:00", "a3", "s2", "u1", "c1", "google", 90, "0.0085"),
    event("e07", "started", "2025-03-02T11:00:00+00:00", "a4", "s2", "u1", "c1", "google"),
    event("e08", "completed", "2025-03-02T11:01:00+00:00", "a4", "s2", "u1", "c1", "google", 60),
    # s3: original on `free`, a started-only attempt (skipped), retry_success on `student`
    event("e09", "started", "2025-03-05T09:00:00+00:00", "a5", "s3", "u2", "c2", "google"),
    event("e10", "completed", "2025-03-05T09:02:00+00:00", "a5", "s3", "u2", "c2", "google", 90),
    event("e11", "started", "2025-03-05T12:00:00+00:00", "a6", "s3", "u2", "c2", "google"),
    event("e12", "started", "2025-03-12T08:00:00+00:00", "a7", "s3", "u2", "c2", "google"),
    event("e13", "completed", "2025-03-12T08:01:00+00:00", "a7", "s3", "u2", "c2", "google", 30),
    # s4: same start time -> attempt_id breaks the tie: s4-a (original), s4-b (failed), s4-c (retry_failed)
    event("e14", "started", "2025-03-15T09:00:00+00:00", "s4-b", "s4", "u2", None, "assemblyai"),
    event("e15", "failed", "2025-03-15T09:01:00+00:00", "s4-b", "s4", "u2", None, "assemblyai", error_code="audio"),
    event("e16", "started", "2025-03-15T09:00:00+00:00", "s4-a", "s4", "u2", None, "assemblyai"),
    event("e17", "completed", "2025-03-15T09:30:00+00:00", "s4-a", "s4", "u2", None, "assemblyai", 120),
    event("e18", "started", "2025-03-15T10:00:00+00:00", "s4-c", "s4", "u2", None, "assemblyai"),
    event("e19", "completed", "2025-03-15T10:05:00+00:00", "s4-c", "s4", "u2", None, "assemblyai", 60),
    # s5: a12 has no started event, so it starts at its completion (08:00), after a13 (07:59)
    event("e20", "completed", "2025-03-20T08:00:00+00:00", "a12", "s5", "u3", None, "google", 45),
    event("e21", "started", "2025-03-20T07:59:00+00:00", "a13", "s5", "u3", None, "google"),
    event("e22", "failed", "2025-03-20T08:05:00+00:00", "a13", "s5", "u3", None, "google", error_code="quota"),
    # s6: a contradicting failure after a14's completion does not change its outcome
    event("e23", "started", "2025-03-21T10:00:00+00:00", "a14", "s6", "u3", None, "google"),
    event("e24", "completed", "2025-03-21T10:01:00+00:00", "a14", "s6", "u3", None, "google", 30),
    event("e25", "failed", "2025-03-21T10:05:00+00:00", "a14", "s6", "u3", None, "google", error_code="late"),
    event("e26", "started", "2025-03-21T11:00:00+00:00", "a15", "s6", "u3", None, "google"),
    event("e27", "completed", "2025-03-21T11:01:00+00:00", "a15", "s6", "u3", None, "google", 30),
    # s7: an original in batch 1 that batch 2's late failure turns into a free retry
    event("e28", "started", "2025-03-15T09:05:00+00:00", "a20", "s7", "u1", "c1", "google"),
    event("e29", "completed", "2025-03-15T09:10:00+00:00", "a20", "s7", "u1", "c1", "google", 120),
    # s9: completed at 23:30 -02:00 on March 31 = 01:30 UTC on April 1 -> April
    event("e30", "started", "2025-03-31T23:00:00-02:00", "a30", "s9", "u1", "c1", "assemblyai"),
    event("e31", "completed", "2025-03-31T23:30:00-02:00", "a30", "s9", "u1", "c1", "assemblyai", 600),
]

BATCH_2_EVENTS = [
    # late failure that started before a20 in s7
    event("e40", "started", "2025-03-15T09:00:00+00:00", "a19", "s7", "u1", "c1", "google"),
    event("e41", "failed", "2025-03-15T09:02:00+00:00", "a19", "s7", "u1", "c1", "google", error_code="timeout"),
    # a new session of u3 in April
    event("e42", "started", "2025-04-02T10:00:00+00:00", "a40", "s8", "u3", None, "google"),
    event("e43", "completed", "2025-04-02T10:10:00+00:00", "a40", "s8", "u3", None, "google", 61),
]
BATCH_2_USERS = [
    user_change("uc4", "2025-04-05T00:00:00+00:00", "delete", "u1", None),
    # late CDC: u3 was on coaching_school since February
    user_change("uc5", "2025-02-01T00:00:00+00:00", "insert", "u3", "coaching_school"),
]
BATCH_2_CLIENTS = [client_change("cc3", "2025-04-05T00:00:00+00:00", "delete", "c1", "u1")]

RAW_STREAMS = ("users", "clients", "coach_profiles", "transcription_events", "gdpr_requests", "audit_events")


# ---------------------------------------------------------------------------------------------
# fixtures: one warehouse, one build per stage


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_usage")


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
        insert_raw(conn, "clients", 1, BATCH_1_CLIENTS)
        insert_raw(conn, "transcription_events", 1, BATCH_1_EVENTS)
    dbt_build(db_path, work_dir)
    return snapshot(db_path)


@pytest.fixture(scope="module")
def after_batch_2(after_batch_1, db_path, work_dir) -> dict:
    with duckdb.connect(str(db_path)) as conn:
        insert_raw(conn, "transcription_events", 2, BATCH_2_EVENTS)
        insert_raw(conn, "users", 3, BATCH_2_USERS)
        insert_raw(conn, "clients", 3, BATCH_2_CLIENTS)
    dbt_build(db_path, work_dir)
    return snapshot(db_path)


@pytest.fixture(scope="module")
def after_full_refresh(after_batch_2, db_path, work_dir) -> dict:
    dbt_build(db_path, work_dir, "--full-refresh")
    return snapshot(db_path)


@pytest.fixture(scope="module")
def fresh_build(after_batch_2, db_path, work_dir) -> dict:
    fresh_path = work_dir / "fresh.duckdb"
    with duckdb.connect(str(fresh_path)) as conn:
        ensure_schema(conn)
        conn.execute(f"attach '{db_path}' as source_warehouse (read_only)")
        for stream in RAW_STREAMS:
            conn.execute(f"insert into raw.{stream} select * from source_warehouse.raw.{stream}")
        conn.execute("detach source_warehouse")
    dbt_build(fresh_path, work_dir / "fresh")
    return snapshot(fresh_path)


# ---------------------------------------------------------------------------------------------
# batch 1: classification and costs


def test_a_lone_completed_attempt_is_a_billable_original(after_batch_1):
    log = after_batch_1["logs"]["a1"]
    assert log["transcription_type"] == "original"
    assert log["billing_reason"] == "original_transcription"
    assert log["is_billable"] is True
    assert log["parent_usage_log_id"] is None
    assert log["usage_log_id"] == _md5("a1")


def test_three_seconds_of_assemblyai_cost_0_000033_rounded_half_up(after_batch_1):
    log = after_batch_1["logs"]["a1"]
    assert log["cost_usd"] == Decimal("0.000033")
    assert log["provider_cost_usd"] == Decimal("0.000033")
    assert log["is_provider_cost_estimated"] is True
    assert log["rate_per_minute_usd"] == Decimal("0.00065")


def test_a_retry_after_failure_is_free_but_keeps_the_provider_cost(after_batch_1):
    log = after_batch_1["logs"]["a3"]
    assert log["transcription_type"] == "retry_failed"
    assert log["billing_reason"] == "failure_retry_no_charge"
    assert log["is_billable"] is False
    assert log["cost_usd"] == Decimal("0")
    assert log["provider_cost_usd"] == Decimal("0.0085")
    assert log["is_provider_cost_estimated"] is False


def test_a_retry_after_a_completion_is_a_paid_retranscription(after_batch_1):
    log = after_batch_1["logs"]["a4"]
    assert log["transcription_type"] == "retry_success"
    assert log["billing_reason"] == "retranscription_service"
    assert log["is_billable"] is True
    assert log["cost_usd"] == Decimal("0.006")
    assert log["parent_usage_log_id"] == after_batch_1["logs"]["a3"]["usage_log_id"]


def test_failed_and_started_only_attempts_create_no_usage_log(after_batch_1):
    for attempt_id in ("a2", "a6", "s4-b", "a13"):
        assert attempt_id not in after_batch_1["logs"]
    assert after_batch_1["log_count"] == 12


def test_an_attempt_that_only_started_is_skipped_when_classifying(after_batch_1):
    log = after_batch_1["logs"]["a7"]
    assert log["transcription_type"] == "retry_success"
    assert log["parent_usage_log_id"] == _md5("a5")
    assert after_batch_1["logs"]["a5"]["cost_usd"] == Decimal("0.009")


def test_attempts_starting_together_are_ordered_by_attempt_id(after_batch_1):
    logs = after_batch_1["logs"]
    assert logs["s4-a"]["transcription_type"] == "original"
    assert logs["s4-a"]["cost_usd"] == Decimal("0.0013")
    assert logs["s4-c"]["transcription_type"] == "retry_failed"
    assert logs["s4-c"]["cost_usd"] == Decimal("0")
    assert logs["s4-c"]["attempt_sequence"] == 3


def test_an_attempt_without_a_started_event_starts_at_its_first_terminal_event(after_batch_1):
    attempt = after_batch_1["attempts"]["a12"]
    assert attempt["started_event_at"] is None
    assert attempt["started_at"] == _ts("2025-03-20T08:00:00+00:00")
    # so it comes after a13 (started 07:59, failed 08:05) and is a free retry
    assert after_batch_1["logs"]["a12"]["transcription_type"] == "retry_failed"
    assert after_batch_1["logs"]["a12"]["transcription_started_at"] == _ts("2025-03-20T08:00:00+00:00")


def test_a_contradicting_terminal_event_is_flagged_and_does_not_change_the_outcome(after_batch_1):
    attempt = after_batch_1["attempts"]["a14"]
    assert attempt["outcome"] == "completed"
    assert attempt["has_contradicting_outcome"] is True
    log = after_batch_1["logs"]["a14"]
    assert log["transcription_type"] == "original"
    assert log["has_contradicting_outcome"] is True
    assert after_batch_1["logs"]["a15"]["transcription_type"] == "retry_success"


def test_plan_at_usage_is_the_plan_in_effect_at_completion(after_batch_1):
    logs = after_batch_1["logs"]
    assert logs["a5"]["plan_at_usage"] == "free"  # before u2's change to student on 2025-03-10
    assert logs["a7"]["plan_at_usage"] == "student"
    assert logs["a1"]["plan_at_usage"] == "pro"
    assert logs["a12"]["plan_at_usage"] == "free"  # u3 has no users record yet


def test_usage_month_is_the_utc_month_of_completion(after_batch_1):
    log = after_batch_1["logs"]["a30"]
    assert log["transcription_completed_at"] == _ts("2025-04-01T01:30:00+00:00")
    assert log["usage_month"].isoformat() == "2025-04-01"
    assert log["cost_usd"] == Decimal("0.0065")


def test_usage_analytics_before_the_late_event(after_batch_1):
    march = after_batch_1["analytics"][("u1", "2025-03-01")]
    assert march["total_transcriptions"] == 4
    assert march["original_transcriptions"] == 2
    assert march["free_retries"] == 1
    assert march["paid_retranscriptions"] == 1
    assert march["failed_attempts"] == 1
    assert march["total_cost_usd"] == Decimal("0.018033")


# ---------------------------------------------------------------------------------------------
# batch 2: incremental restatement and permanence


def test_a_late_failure_before_a_logged_attempt_restates_it_as_a_free_retry(after_batch_1, after_batch_2):
    before, after = after_batch_1["logs"]["a20"], after_batch_2["logs"]["a20"]
    assert before["transcription_type"] == "original" and before["cost_usd"] == Decimal("0.012")
    assert after["transcription_type"] == "retry_failed"
    assert after["billing_reason"] == "failure_retry_no_charge"
    assert after["is_billable"] is False
    assert after["cost_usd"] == Decimal("0")
    assert after["provider_cost_usd"] == Decimal("0.012")
    assert after["usage_log_id"] == before["usage_log_id"]
    assert after["source_batch_id"] == 2


def test_an_incremental_run_adds_new_logs_without_duplicating_rows(after_batch_2):
    assert after_batch_2["log_count"] == 13
    assert len({log["usage_log_id"] for log in after_batch_2["logs"].values()}) == 13
    assert after_batch_2["logs"]["a40"]["cost_usd"] == Decimal("0.0061")


def test_a_late_users_change_updates_plan_at_usage_of_existing_logs(after_batch_2):
    logs = after_batch_2["logs"]
    for attempt_id in ("a12", "a14", "a15", "a40"):
        assert logs[attempt_id]["plan_at_usage"] == "coaching_school"
    assert logs["a12"]["source_batch_id"] == 1  # recomputed, but no new events in its session


def test_usage_logs_survive_hard_deletes_of_their_user_and_client(after_batch_1, after_batch_2):
    for attempt_id in ("a1", "a3", "a4", "a20", "a30"):
        log = after_batch_2["logs"][attempt_id]
        assert log["user_id"] == "u1"
        assert log["client_id"] == "c1"
    # u1 was deleted after this usage: the log is recomputed (users change) and keeps its plan
    assert after_batch_2["logs"]["a1"]["plan_at_usage"] == "pro"
    assert after_batch_2["logs"]["a1"]["users_batch_id"] == 3
    assert after_batch_2["logs"]["a1"] | {"computed_at": None, "users_batch_id": None} == (
        after_batch_1["logs"]["a1"] | {"computed_at": None, "users_batch_id": None}
    )


def test_usage_analytics_after_the_late_event(after_batch_2):
    march = after_batch_2["analytics"][("u1", "2025-03-01")]
    assert march["total_transcriptions"] == 4
    assert march["original_transcriptions"] == 1
    assert march["free_retries"] == 2
    assert march["paid_retranscriptions"] == 1
    assert march["failed_attempts"] == 2
    assert march["total_seconds"] == Decimal("273")
    assert march["billable_seconds"] == Decimal("63")
    assert march["billable_minutes"] == 2
    assert march["total_cost_usd"] == Decimal("0.006033")
    assert march["provider_cost_usd"] == Decimal("0.026533")
    assert march["google_seconds"] == Decimal("270")
    assert march["assemblyai_seconds"] == Decimal("3")
    assert march["unique_sessions"] == 3
    assert march["unique_clients"] == 1

    april = after_batch_2["analytics"][("u1", "2025-04-01")]
    assert april["total_transcriptions"] == 1
    assert april["billable_minutes"] == 10
    assert april["total_cost_usd"] == Decimal("0.0065")

    u2_march = after_batch_2["analytics"][("u2", "2025-03-01")]
    assert u2_march["original_transcriptions"] == 2
    assert u2_march["free_retries"] == 1
    assert u2_march["paid_retranscriptions"] == 1
    assert u2_march["failed_attempts"] == 1
    assert u2_march["billable_seconds"] == Decimal("240")
    assert u2_march["billable_minutes"] == 4
    assert u2_march["total_cost_usd"] == Decimal("0.0133")
    assert u2_march["unique_sessions"] == 2
    assert u2_march["unique_clients"] == 1

    u3_april = after_batch_2["analytics"][("u3", "2025-04-01")]
    assert u3_april["billable_minutes"] == 2  # 61 s
    assert after_batch_2["analytics_count"] == 5


def test_a_full_refresh_never_rebuilds_or_drops_usage_logs(after_batch_2, after_full_refresh):
    assert after_full_refresh["log_count"] == after_batch_2["log_count"]
    assert after_full_refresh["logs"] == after_batch_2["logs"]  # same rows, same computed_at
    # usage_analytics may be rebuilt, from the same logs
    assert without_computed_at(after_full_refresh["analytics"]) == without_computed_at(after_batch_2["analytics"])


def test_incremental_results_equal_a_fresh_build_from_the_same_raw_data(after_batch_2, fresh_build):
    assert without_computed_at(fresh_build["logs"]) == without_computed_at(after_batch_2["logs"])
    assert without_computed_at(fresh_build["analytics"]) == without_computed_at(after_batch_2["analytics"])
