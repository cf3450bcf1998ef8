"""Billing analytics per UTC month (US009) on a small hand-made warehouse.

Four users over January-March 2026 (google 0.006 USD/min, assemblyai 0.00065 USD/min):

- ua, student from 2026-01-05: 10 min of google in January (provider cost 0.05 carried), 5 min
  in February (0.025 carried); later, a late 15-minute January completion (0.08 carried) and
  1 minute of assemblyai in March (provider cost estimated);
- ub, pro from 2026-01-10, free from 2026-02-20 (churns in February): 20 min of assemblyai in
  January (estimated), 1 min of google on 2026-02-15 while still on pro (estimated);
- uc, free from 2026-02-03: a failed attempt whose event carries 0.004 of provider cost, then
  its free retry (2 min, 0.011 carried): the platform absorbs both;
- ud, coaching_school since 2025-12-01, account deleted on 2026-03-10 (churns in March), no usage.

Stage 1: the first events are built and January is closed. Stage 2: the late January completion
and the March usage arrive and are built; the late completion becomes an adjustment booked
into February. Stage 3: February is closed, then built again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from dagster_project.billing.close import close_through
from dagster_project.warehouse import ensure_schema
from tests.billing.test_close import _connect, _rows, _vars
from tests.dbt.test_usage_models import dbt_build, event, insert_raw, user_change

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
GRACE = 3
ANALYTICS_MODELS = ["billing_analytics_monthly", "billing_analytics_by_plan", "billing_analytics_by_provider"]

USERS = [
    user_change("ua-1", "2026-01-05T00:00:00+00:00", "insert", "ua", "student"),
    user_change("ub-1", "2026-01-10T00:00:00+00:00", "insert", "ub", "pro"),
    user_change("ub-2", "2026-02-20T00:00:00+00:00", "update", "ub", "free"),
    user_change("uc-1", "2026-02-03T00:00:00+00:00", "insert", "uc", "free"),
    user_change("ud-1", "2025-12-01T00:00:00+00:00", "insert", "ud", "coaching_school"),
    user_change("ud-2", "2026-03-10T00:00:00+00:00", "delete", "ud", None),
]
FIRST_EVENTS = [
    event("e1", "completed", "2026-01-15T10:00:00+00:00", "a1", "s1", "ua", "c1", "google", 600, "0.05"),
    event("e2", "completed", "2026-01-20T10:00:00+00:00", "a2", "s2", "ub", "c2", "assemblyai", 1200),
    event("e3", "completed", "2026-02-05T10:00:00+00:00", "a3", "s3", "ua", "c1", "google", 300, "0.025"),
    event("e4", "failed", "2026-02-10T10:00:00+00:00", "a4", "s4", "uc", "c3", "google", None, "0.004", "timeout"),
    event("e5", "completed", "2026-02-10T11:00:00+00:00", "a5", "s4", "uc", "c3", "google", 120, "0.011"),
    event("e6", "completed", "2026-02-15T10:00:00+00:00", "a6", "s5", "ub", "c2", "google", 60),
]
LATE_EVENTS = [
    # completed in January, delivered after January closed
    event("e7", "completed", "2026-01-25T10:00:00+00:00", "a7", "s6", "ua", "c1", "google", 900, "0.08"),
    event("e8", "completed", "2026-03-05T10:00:00+00:00", "a8", "s7", "ua", "c1", "assemblyai", 60),
]




def _select() -> list[str]:
    """The analytics, what they depend on and billing_adjustments (read by the close), with the
    tests of those models alone: models of other features that merely read usage_logs are left out."""
    models = [*ANALYTICS_MODELS, "billing_adjustments"]
    return ["--select", *(f"+{model}" for model in models), "--indirect-selection", "cautious"]






def _capture(conn: duckdb.DuckDBPyConnection) -> dict:
    return {
        "monthly": {r["billing_month"]: r for r in _rows(conn, "select * from marts.billing_analytics_monthly")},
        "by_plan": {
            (r["billing_month"], r["plan"]): r for r in _rows(conn, "select * from marts.billing_analytics_by_plan")
        },
        "by_provider": {
            (r["billing_month"], r["stt_provider"]): r
            for r in _rows(conn, "select * from marts.billing_analytics_by_provider")
        },
        "types": dict(
            conn.execute(
                "select table_name || '.' || column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name like 'billing_analytics%'"
            ).fetchall()
        ),
        "table_types": dict(
            conn.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = 'marts' and table_name like 'billing_analytics%'"
            ).fetchall()
        ),
    }


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("billing_analytics")
    db_path = work / "coachwh.duckdb"
    conn = _connect(db_path)
    ensure_schema(conn)
    insert_raw(conn, "users", 1, USERS)
    insert_raw(conn, "transcription_events", 2, FIRST_EVENTS)
    conn.close()
    result: dict = {}

    dbt_build(db_path, work, *_select(), *_vars("2026-02-25T00:00:00+00:00"))
    conn = _connect(db_path)
    try:
        close_through(conn, JAN, datetime(2026, 2, 25, tzinfo=UTC), GRACE, "test")
        result["stage1"] = _capture(conn)
        insert_raw(conn, "transcription_events", 3, LATE_EVENTS)
    finally:
        conn.close()

    dbt_build(db_path, work, *_select(), *_vars("2026-03-20T00:00:00+00:00"))
    conn = _connect(db_path)
    try:
        result["stage2"] = _capture(conn)
        result["adjustments"] = _rows(conn, "select * from marts.billing_adjustments")
        close_through(conn, FEB, datetime(2026, 3, 20, tzinfo=UTC), GRACE, "test")
    finally:
        conn.close()
    # The analytics are tables: a close shows in them from the next build on.
    dbt_build(db_path, work, *_select(), *_vars("2026-03-20T00:00:00+00:00"))
    conn = _connect(db_path)
    try:
        result["stage3"] = _capture(conn)
    finally:
        conn.close()
    return result


def _d(text: str) -> Decimal:
    return Decimal(text)


def _pct(numerator: str, denominator: str) -> Decimal:
    return (_d(numerator) * 100 / _d(denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _month(stages: dict, month: date, stage: str = "stage2") -> dict:
    return stages[stage]["monthly"][month]


# ---------------------------------------------------------------------------------------------
# shape


def test_the_analytics_are_tables_with_one_row_per_month_and_no_gaps(stages):
    # Tables, computed once per build: their data tests and readers do not recompute them.
    assert stages["stage2"]["table_types"] == {model: "BASE TABLE" for model in ANALYTICS_MODELS}
    assert sorted(stages["stage2"]["monthly"]) == [JAN, FEB, MAR]
    assert sorted(stages["stage1"]["monthly"]) == [JAN, FEB]


def test_every_money_column_is_decimal_and_every_ratio_has_its_declared_scale(stages):
    types = stages["stage2"]["types"]
    money = {name: t for name, t in types.items() if name.endswith("_usd")}
    assert money and all(t.startswith("DECIMAL") for t in money.values()), money
    assert types["billing_analytics_monthly.gross_margin_pct"] == "DECIMAL(18,2)"
    assert types["billing_analytics_monthly.arpu_usd"] == "DECIMAL(18,6)"
    assert types["billing_analytics_by_provider.margin_pct"] == "DECIMAL(18,2)"


def test_the_breakdowns_have_a_row_for_every_month_and_every_plan_or_provider(stages):
    by_plan, by_provider = stages["stage2"]["by_plan"], stages["stage2"]["by_provider"]
    assert set(by_plan) == {(m, p) for m in (JAN, FEB, MAR) for p in ("free", "student", "pro", "coaching_school")}
    assert set(by_provider) == {(m, p) for m in (JAN, FEB, MAR) for p in ("google", "assemblyai")}


# ---------------------------------------------------------------------------------------------
# January: closed after stage 1, then a late completion arrives


def test_a_closed_month_keeps_its_revenue_when_late_usage_arrives(stages):
    before, after = _month(stages, JAN, "stage1"), _month(stages, JAN)
    # ua student 9.99 + 0.06, ub pro 29.99 + 0.013 (20 min of assemblyai), ud coaching_school 169
    assert after["is_closed"]  # stage 1 was read right after the close, before the next build
    for row in (before, after):
        assert row["billed_users"] == 3
        assert row["subscription_fees_usd"] == _d("208.98")
        assert row["usage_charges_usd"] == _d("0.073")
        assert row["adjustments_usd"] == 0
        assert row["revenue_usd"] == _d("209.053")


def test_provider_cost_counts_late_usage_in_the_month_it_was_completed(stages):
    # stage 1: 0.05 (carried) + 0.013 (estimated); stage 2 adds the late January log's 0.08
    assert _month(stages, JAN, "stage1")["provider_cost_usd"] == _d("0.063")
    jan = _month(stages, JAN)
    assert jan["provider_cost_usd"] == _d("0.143")
    assert jan["transcriptions"] == 3 and jan["billable_transcriptions"] == 3
    assert jan["gross_margin_usd"] == _d("208.910")
    assert jan["gross_margin_pct"] == _pct("208.910", "209.053") == _d("99.93")


def test_january_counts_its_users_and_divides_exactly(stages):
    jan = _month(stages, JAN)
    assert (jan["active_users"], jan["new_users"], jan["paying_users"], jan["churned_users"]) == (2, 2, 3, 0)
    # 209.053 / 3 = 69.684333..., 0.143 / 3 = 0.047666...
    assert jan["arpu_usd"] == _d("69.684333")
    assert jan["cost_per_transcription_usd"] == _d("0.047667")
    assert jan["free_retry_cost_absorbed_usd"] == 0 and jan["failed_attempt_cost_usd"] == 0


# ---------------------------------------------------------------------------------------------
# February: the month the late adjustment is booked into, with a free retry and a churn


def test_a_late_adjustment_counts_in_the_revenue_of_the_month_it_is_booked_into(stages):
    (adjustment,) = stages["adjustments"]
    assert (adjustment["original_month"], adjustment["applied_month"]) == (JAN, FEB)
    feb = _month(stages, FEB)
    # ua 9.99 + 0.03 + 0.09 (adjustment), ub free 0 + 0.006, uc free 0 + 0 (free retry), ud 169
    assert feb["billed_users"] == 4
    assert feb["subscription_fees_usd"] == _d("178.99")
    assert feb["usage_charges_usd"] == _d("0.036")
    assert feb["adjustments_usd"] == _d("0.09")
    assert feb["revenue_usd"] == _d("179.116")
    assert feb["arpu_usd"] == _d("44.779")


def test_the_platform_absorbs_the_provider_cost_of_a_free_retry_and_of_a_failed_attempt(stages):
    feb = _month(stages, FEB)
    assert feb["free_retry_cost_absorbed_usd"] == _d("0.011")
    assert feb["failed_attempt_cost_usd"] == _d("0.004")
    # ua 0.025 + uc's free retry 0.011 + ub 0.006 (estimated: 1 min of google) + uc's failure 0.004
    assert feb["provider_cost_usd"] == _d("0.046")
    assert (feb["transcriptions"], feb["billable_transcriptions"], feb["free_retries"], feb["failed_attempts"]) == (
        3,
        2,
        1,
        1,
    )
    assert feb["cost_per_transcription_usd"] == _d("0.015333")  # 0.046 / 3
    assert feb["gross_margin_usd"] == _d("179.070")
    assert feb["gross_margin_pct"] == _pct("179.070", "179.116") == _d("99.97")


def test_a_user_who_leaves_a_paid_plan_for_free_is_churned(stages):
    feb = _month(stages, FEB)
    # paid at the end of January: ua, ub, ud; at the end of February: ua, ud (ub is on free)
    assert (feb["paying_users"], feb["churned_users"]) == (2, 1)
    assert (feb["active_users"], feb["new_users"]) == (3, 1)  # ua, ub, uc active; uc new


# ---------------------------------------------------------------------------------------------
# March: a deleted paying account


def test_a_deleted_paying_account_is_churned_and_no_longer_billed(stages):
    mar = _month(stages, MAR)
    assert (mar["paying_users"], mar["churned_users"], mar["new_users"], mar["active_users"]) == (1, 1, 0, 1)
    assert mar["billed_users"] == 1
    assert mar["revenue_usd"] == _d("9.99065")  # ua: 9.99 + 1 min of assemblyai (0.00065)
    assert mar["provider_cost_usd"] == _d("0.00065")
    assert mar["gross_margin_pct"] == _pct("9.99", "9.99065") == _d("99.99")
    assert mar["arpu_usd"] == _d("9.99065")
    assert mar["cost_per_transcription_usd"] == _d("0.00065")


# ---------------------------------------------------------------------------------------------
# breakdowns


def test_revenue_is_split_by_statement_plan_and_usage_by_plan_at_usage(stages):
    by_plan = stages["stage2"]["by_plan"]

    def figures(plan: str) -> tuple:
        row = by_plan[(FEB, plan)]
        return (
            row["billed_users"],
            row["revenue_usd"],
            row["active_users"],
            row["transcriptions"],
            row["failed_attempts"],
            row["provider_cost_usd"],
            row["free_retry_cost_absorbed_usd"],
        )

    # ub is billed on free (plan at the month's end) but used google on pro
    assert figures("free") == (2, _d("0.006"), 1, 1, 1, _d("0.015"), _d("0.011"))
    assert figures("student") == (1, _d("10.11"), 1, 1, 0, _d("0.025"), 0)
    assert figures("pro") == (0, 0, 1, 1, 0, _d("0.006"), 0)
    assert figures("coaching_school") == (1, _d("169"), 0, 0, 0, 0, 0)
    jan_student = by_plan[(JAN, "student")]
    assert (jan_student["revenue_usd"], jan_student["transcriptions"], jan_student["provider_cost_usd"]) == (
        _d("10.05"),
        2,
        _d("0.13"),
    )


def test_the_plans_add_up_to_the_month(stages):
    for month, row in stages["stage2"]["monthly"].items():
        plans = [r for (m, _), r in stages["stage2"]["by_plan"].items() if m == month]
        for column in (
            "revenue_usd",
            "provider_cost_usd",
            "transcriptions",
            "billed_users",
            "free_retry_cost_absorbed_usd",
        ):
            assert sum(r[column] for r in plans) == row[column], (month, column)


def test_each_provider_has_its_transcriptions_minutes_charges_cost_and_margin(stages):
    by_provider = stages["stage2"]["by_provider"]
    google_feb = by_provider[(FEB, "google")]
    assert (
        google_feb["transcriptions"],
        google_feb["billable_transcriptions"],
        google_feb["free_retries"],
        google_feb["failed_attempts"],
    ) == (3, 2, 1, 1)
    assert (google_feb["total_seconds"], google_feb["total_minutes"], google_feb["billable_minutes"]) == (
        _d("480"),
        _d("8.000"),
        _d("6.000"),
    )
    assert google_feb["usage_charges_usd"] == _d("0.036")
    assert google_feb["provider_cost_usd"] == _d("0.046")
    assert google_feb["margin_usd"] == _d("-0.010")
    assert google_feb["margin_pct"] == _pct("-0.010", "0.036") == _d("-27.78")  # half away from zero

    google_jan = by_provider[(JAN, "google")]  # a1 and the late a7, in the month they completed
    assert (
        google_jan["transcriptions"],
        google_jan["total_minutes"],
        google_jan["usage_charges_usd"],
        google_jan["provider_cost_usd"],
        google_jan["margin_pct"],
    ) == (2, _d("25.000"), _d("0.15"), _d("0.13"), _d("13.33"))
    assemblyai_jan = by_provider[(JAN, "assemblyai")]
    assert (assemblyai_jan["usage_charges_usd"], assemblyai_jan["provider_cost_usd"], assemblyai_jan["margin_pct"]) == (
        _d("0.013"),
        _d("0.013"),
        _d("0.00"),
    )
    idle = by_provider[(FEB, "assemblyai")]
    assert (idle["transcriptions"], idle["usage_charges_usd"], idle["margin_pct"]) == (0, 0, None)


def test_the_providers_add_up_to_the_month(stages):
    for month, row in stages["stage2"]["monthly"].items():
        providers = [r for (m, _), r in stages["stage2"]["by_provider"].items() if m == month]
        for column in ("provider_cost_usd", "transcriptions", "failed_attempts", "free_retry_cost_absorbed_usd"):
            assert sum(r[column] for r in providers) == row[column], (month, column)


# ---------------------------------------------------------------------------------------------
# closes


def test_a_close_shows_in_the_next_build_of_the_analytics_and_changes_no_figure(stages):
    before, after = _month(stages, FEB), _month(stages, FEB, "stage3")
    assert not before["is_closed"] and after["is_closed"]
    assert {k: v for k, v in before.items() if k != "is_closed"} == {k: v for k, v in after.items() if k != "is_closed"}
    assert stages["stage2"]["by_plan"] == stages["stage3"]["by_plan"]
    assert stages["stage2"]["by_provider"] == stages["stage3"]["by_provider"]
