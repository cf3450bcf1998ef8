"""Monthly statements, closes and adjustments (spec §3.9-3.10) on a small hand-made warehouse.

One warehouse goes through three stages: September is closed after a first build; late data for
September arrives (a late completion, and a late failure that turns a billed original into a free
retry) and is built with --full-refresh; then October is closed. Each stage's tables are captured right after it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.billing.close import close_through, verify_closed_digests
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import ensure_schema
from tests.dbt.test_usage_models import dbt_build, event, insert_raw, user_change

SEP, OCT = date(2026, 9, 1), date(2026, 10, 1)
GRACE = 3


def _vars(as_of: str) -> list[str]:
    return ["--vars", f'{{"as_of": "{as_of}"}}']


def _rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(db_path))
    conn.execute("set TimeZone = 'UTC'")
    return conn


BATCH_1_USERS = [
    user_change("u1-1", "2026-08-01T00:00:00+00:00", "insert", "u1", "free"),
    user_change("u1-2", "2026-09-15T00:00:00+00:00", "update", "u1", "pro"),
    user_change("u2-1", "2026-08-01T00:00:00+00:00", "insert", "u2", "coaching_school"),
    user_change("u3-1", "2026-08-01T00:00:00+00:00", "insert", "u3", "student"),
    user_change("u4-1", "2026-08-01T00:00:00+00:00", "insert", "u4", "free"),
    user_change("u5-1", "2026-08-01T00:00:00+00:00", "insert", "u5", "free"),
]
BATCH_1_EVENTS = [
    # u1: one log on free (before the plan change), one on pro, 3 s of AssemblyAI
    event("e1", "completed", "2026-09-10T10:00:00+00:00", "a1", "s1", "u1", "c1", "google", 90),
    event("e2", "completed", "2026-09-20T10:00:00+00:00", "a2", "s2", "u1", "c1", "assemblyai", 3),
    # u2 (unlimited plan): a big original in September
    event("e3", "completed", "2026-09-12T10:00:00+00:00", "a3", "s3", "u2", "c2", "google", 36000),
    # u4 (free, 200 minutes included): 250 minutes in September
    event("e4", "completed", "2026-09-13T10:00:00+00:00", "a4", "s4", "u4", "c4", "google", 15000),
    # u1 in October
    event("e5", "completed", "2026-10-05T10:00:00+00:00", "a5", "s5", "u1", "c1", "google", 60),
    # u5 in October: a failure, then its free retry only
    event("e6", "failed", "2026-10-06T10:00:00+00:00", "a6", "s6", "u5", "c5", "google", error_code="timeout"),
    event("e7", "completed", "2026-10-06T11:00:00+00:00", "a7", "s6", "u5", "c5", "google", 120),
]
BATCH_2_EVENTS = [
    # a late completion in closed September
    event("e8", "completed", "2026-09-25T10:00:00+00:00", "a8", "s8", "u1", "c1", "google", 600),
    # a late failure that precedes u2's September original: a3 becomes a free retry
    event("e9", "failed", "2026-09-12T09:00:00+00:00", "a9", "s3", "u2", "c2", "google", error_code="timeout"),
]


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("billing")
    db_path = work / "coachwh.duckdb"
    conn = _connect(db_path)
    ensure_schema(conn)
    insert_raw(conn, "users", 1, BATCH_1_USERS)
    insert_raw(conn, "transcription_events", 2, BATCH_1_EVENTS)
    conn.close()
    result: dict = {}

    dbt_build(db_path, work, *_vars("2026-10-10T00:00:00+00:00"))
    conn = _connect(db_path)
    try:
        with pytest.raises(CoachwhError) as refused:
            close_through(conn, OCT, datetime(2026, 10, 10, tzinfo=UTC), GRACE, "test")
        result["refusal"] = str(refused.value)
        result["first_close"] = close_through(conn, SEP, datetime(2026, 10, 10, tzinfo=UTC), GRACE, "test")
        result["second_close"] = close_through(conn, SEP, datetime(2026, 10, 11, tzinfo=UTC), GRACE, "test")
        result["stage1"] = _rows(conn, "select * from marts.billing_statements order by all")
        result["closed_sep_1"] = _rows(conn, "select * from billing.closed_statements order by all")
        result["logs_1"] = {r["attempt_id"]: r for r in _rows(conn, "select * from marts.usage_logs")}
        insert_raw(conn, "transcription_events", 3, BATCH_2_EVENTS)
    finally:
        conn.close()

    # The late data is built with --full-refresh: closed months must not notice either.
    dbt_build(db_path, work, "--full-refresh", *_vars("2026-10-20T00:00:00+00:00"))
    conn = _connect(db_path)
    try:
        result["stage2"] = _rows(conn, "select * from marts.billing_statements order by all")
        result["closed_sep_2"] = _rows(conn, "select * from billing.closed_statements order by all")
        result["adjustments_2"] = _rows(conn, "select * from marts.billing_adjustments order by all")
        result["logs_2"] = {r["attempt_id"]: r for r in _rows(conn, "select * from marts.usage_logs")}
        result["broken_2"] = verify_closed_digests(conn)
        result["reconcile_2"] = _rows(conn, RECONCILE)
        result["oct_close"] = close_through(conn, OCT, datetime(2026, 11, 5, tzinfo=UTC), GRACE, "test")
        result["adjustments_3"] = _rows(conn, "select * from marts.billing_adjustments order by all")
        result["reconcile_3"] = _rows(conn, RECONCILE)
        result["broken_3"] = verify_closed_digests(conn)
        result["audit"] = _rows(conn, "select operation, entity_id, after_values->>'month_digest' as digest, actor "
                                      "from audit.audit_logs order by sequence_number")
    finally:
        conn.close()
    return result


RECONCILE = """
    with billed as (select user_id, sum(usage_charges_usd + adjustments_usd) as billed from marts.billing_statements group by all),
         logs as (select user_id, sum(cost_usd) as cost from marts.usage_logs group by all)
    select * from logs full join billed using (user_id) where coalesce(billed, 0) <> coalesce(cost, 0)
"""


def _statement(rows: list[dict], user_id: str, month: date) -> dict:
    (row,) = [r for r in rows if r["user_id"] == user_id and r["billing_month"] == month]
    return row


def test_a_month_cannot_close_before_its_end_plus_grace(stages):
    assert "2026-10 cannot be closed before 2026-11-04T00:00:00+00:00" in stages["refusal"]


def test_closing_a_month_twice_changes_nothing(stages):
    (first,) = stages["first_close"]
    (second,) = stages["second_close"]
    assert first.newly_closed and not second.newly_closed
    assert first.month_digest == second.month_digest


def test_the_plan_of_a_statement_is_the_plan_at_the_end_of_the_month_and_logs_keep_theirs(stages):
    sep = _statement(stages["stage1"], "u1", SEP)
    assert sep["plan"] == "pro" and sep["subscription_fee_usd"] == Decimal("29.99")
    assert stages["logs_1"]["a1"]["plan_at_usage"] == "free"
    assert stages["logs_1"]["a2"]["plan_at_usage"] == "pro"
    # 90 s of google (0.009) + 3 s of AssemblyAI (0.000033)
    assert sep["usage_charges_usd"] == Decimal("0.009033")
    assert sep["total_usd"] == Decimal("29.999033")


def test_an_unlimited_plan_has_no_quota_and_an_exceeded_one_counts_minutes_over(stages):
    unlimited = _statement(stages["stage1"], "u2", SEP)
    assert unlimited["included_minutes"] is None and unlimited["minutes_over_quota"] == 0
    assert unlimited["billable_minutes"] == 600
    over = _statement(stages["stage1"], "u4", SEP)
    assert (over["included_minutes"], over["billable_minutes"], over["minutes_over_quota"]) == (200, 250, 50)


def test_a_paid_plan_without_usage_still_gets_a_statement(stages):
    assert _statement(stages["stage1"], "u3", OCT)["total_usd"] == Decimal("9.990000")


def test_a_month_with_only_free_retries_bills_nothing_for_usage(stages):
    oct_u5 = _statement(stages["stage1"], "u5", OCT)
    assert (oct_u5["usage_log_count"], oct_u5["usage_charges_usd"], oct_u5["total_usd"]) == (1, 0, 0)


def test_a_closed_statement_never_changes_and_its_digest_verifies(stages):
    assert stages["closed_sep_1"] == stages["closed_sep_2"]
    closed = [r for r in stages["stage2"] if r["billing_month"] == SEP]
    assert closed and all(r["is_closed"] for r in closed)
    before = {(r["user_id"]): r for r in stages["stage1"] if r["billing_month"] == SEP}
    assert {r["user_id"]: r for r in closed} == before
    assert stages["broken_2"] == [] and stages["broken_3"] == []


def test_late_data_after_a_close_becomes_adjustments_in_the_first_open_month(stages):
    by_log = {a["usage_log_id"]: a for a in stages["adjustments_2"]}
    late = by_log[stages["logs_2"]["a8"]["usage_log_id"]]
    assert (late["reason"], late["original_month"], late["applied_month"]) == ("late_usage", SEP, OCT)
    assert late["delta_usage_charges_usd"] == Decimal("0.060000")
    reclassified = by_log[stages["logs_2"]["a3"]["usage_log_id"]]
    assert stages["logs_2"]["a3"]["transcription_type"] == "retry_failed"
    assert reclassified["reason"] == "reclassified"
    assert reclassified["delta_usage_charges_usd"] == -stages["logs_1"]["a3"]["cost_usd"]
    assert len(by_log) == 2
    oct_u1 = _statement(stages["stage2"], "u1", OCT)
    assert oct_u1["adjustments_usd"] == Decimal("0.060000")
    oct_u2 = _statement(stages["stage2"], "u2", OCT)
    assert oct_u2["adjustments_usd"] == -stages["logs_1"]["a3"]["cost_usd"]


def test_every_user_reconciles_across_closes(stages):
    assert stages["reconcile_2"] == []
    assert stages["reconcile_3"] == []


def test_adjustments_become_final_when_their_month_closes(stages):
    assert [c.newly_closed for c in stages["oct_close"]] == [True]
    assert {a["is_final"] for a in stages["adjustments_2"]} == {False}
    assert {a["is_final"] for a in stages["adjustments_3"]} == {True}
    def without_is_final(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "is_final"} for r in rows]

    assert without_is_final(stages["adjustments_2"]) == without_is_final(stages["adjustments_3"])


def test_the_month_digest_covers_its_statements():
    # The digest of a statement is re-derivable from its published fields (docs/billing.md).
    from dagster_project.billing.close import statement_digest

    row = {"user_id": "u1", "billing_month": SEP, "plan": "pro", "subscription_fee_usd": Decimal("29.99"),
           "included_minutes": 3000, "billable_minutes": 2, "usage_charges_usd": Decimal("0.009033"),
           "adjustments_usd": Decimal("0.000000"), "total_usd": Decimal("29.999033")}
    expected = hashlib.sha256(b"u1|2026-09-01|pro|29.99|3000|2|0.009033|0.000000|29.999033|a,b").hexdigest()
    assert statement_digest(row, ["b", "a"]) == expected



def test_each_close_writes_one_audit_record_with_its_month_digest_and_a_repeat_writes_none(stages):
    assert stages["audit"] == [
        {"operation": "billing_close", "entity_id": "2026-09", "digest": stages["first_close"][-1].month_digest,
         "actor": "test"},
        {"operation": "billing_close", "entity_id": "2026-10", "digest": stages["oct_close"][-1].month_digest,
         "actor": "test"},
    ]
