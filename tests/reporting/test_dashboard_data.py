"""The admin dashboard's figures against SQL written independently here, on a warehouse built by the real commands.

The browser test (test_dashboard_browser.py) checks what the page shows; this checks what it carries.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dagster_project.audit.trail import verify
from dagster_project.cli import main
from dagster_project.errors import CoachwhError
from dagster_project.reporting.dashboard import build_dashboard
from dagster_project.reporting.dashboard_data import collect_dashboard_data
from dagster_project.reporting.dashboard_sql import half_up_pct
from dagster_project.warehouse import connection
from tests.reporting.dashboard_warehouse import DashboardWarehouse, dashboard_warehouse

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def built() -> DashboardWarehouse:
    return dashboard_warehouse()


@pytest.fixture(scope="module")
def page(built: DashboardWarehouse) -> dict[str, Any]:
    return page_data(built.html)


def page_data(html: Path) -> dict[str, Any]:
    """The JSON block the page draws from."""
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      html.read_text(encoding="utf-8"), re.S)
    assert match, "the page has no data block"
    return json.loads(match.group(1))


def _one(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> tuple:
    return conn.execute(sql, params).fetchall()[0]


def _pct(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def expected_kpis(conn: duckdb.DuckDBPyConnection, start: str, end: str) -> dict[str, Any]:
    """The KPIs of months start..end (YYYY-MM), from the marts' rows rather than the dashboard's SQL."""
    bounds = [f"{start}-01", f"{end}-01"]
    active, transcriptions, logs_cost, free_retry_cost = _one(conn, """
        select count(distinct user_id), count(*), coalesce(sum(provider_cost_usd), 0),
               coalesce(sum(provider_cost_usd) filter (where transcription_type = 'retry_failed'), 0)
        from marts.usage_logs where usage_month between cast(? as date) and cast(? as date)""", bounds)
    (failed,) = _one(conn, "select coalesce(sum(failed_attempts), 0) from marts.usage_analytics "
                           "where usage_month between cast(? as date) and cast(? as date)", bounds)
    (revenue,) = _one(conn, "select coalesce(sum(total_usd), 0) from marts.billing_statements "
                            "where billing_month between cast(? as date) and cast(? as date)", bounds)
    # What failed attempts cost is only aggregated per month (their rows are not in a mart).
    (failed_cost,) = _one(conn, "select coalesce(sum(failed_attempt_cost_usd), 0) from marts.billing_analytics_monthly "
                                "where billing_month between cast(? as date) and cast(? as date)", bounds)
    cost = logs_cost + failed_cost
    return {
        "active_coaches": active,
        "transcriptions": transcriptions,
        "failed_attempts": int(failed),
        "error_rate_pct": _pct(failed, transcriptions + failed),
        "revenue_usd": revenue,
        "provider_cost_usd": cost,
        "gross_margin_usd": revenue - cost,
        "gross_margin_pct": _pct(revenue - cost, revenue),
        "free_retry_cost_usd": free_retry_cost,
    }


def expected_display(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key.endswith("_usd"):
        cents = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
        return f"-${-cents:,}" if cents < 0 else f"${cents:,}"
    if key.endswith("_pct"):
        return f"{value}%"
    return f"{value:,}"


def expected_heavy_users(conn: duckdb.DuckDBPyConnection, start: str, end: str) -> list[tuple[str, int]]:
    """Top 10% (rounded up) of the range's active coaches by billable minutes, ties by pseudonym."""
    minutes: dict[str, int] = defaultdict(int)
    transcriptions: dict[str, int] = defaultdict(int)
    for pseudonym, month, billable, count in conn.execute(
        "select user_id, strftime(usage_month, '%Y-%m'), billable_minutes, total_transcriptions "
        "from anonymized.usage_analytics"
    ).fetchall():
        if start <= month <= end:
            minutes[pseudonym] += billable
            transcriptions[pseudonym] += count
    active = [p for p in minutes if transcriptions[p] > 0]
    ranked = sorted(active, key=lambda p: (-minutes[p], p))[: math.ceil(len(active) / 10)]
    return [(p, minutes[p]) for p in ranked if minutes[p] > 0]


def all_ranges(months: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(months) for b in months[i:]]


def test_the_commands_succeed_and_the_run_says_where_the_dashboard_is(built):
    assert built.run.returncode == 0, built.run.stdout + built.run.stderr
    assert f"admin dashboard: {built.html}" in built.run.stdout
    assert built.retention.returncode == 0, built.retention.stdout + built.retention.stderr
    assert built.report.returncode == 0, built.report.stdout + built.report.stderr
    assert f"dashboard: {built.html}" in built.report.stdout
    assert built.asset_html.exists() and built.html.exists()


def test_the_page_is_self_contained_with_plotly_inlined_once(built):
    from dagster_project.reporting.dashboard_html import _plotly_js

    html = built.html.read_text(encoding="utf-8")
    bundle = _plotly_js()
    assert html.count(bundle) == 1
    assert html.count("plotly.js (basic - minified) v") == 1  # the bundle's banner: no second copy
    rest = html.replace(bundle, "")
    # Outside the bundle (whose source mentions URLs it never loads here), nothing refers to the network.
    assert not re.search(r"<script[^>]+src=|<link|<iframe|<img[^>]+src=|@import", rest, re.I)
    assert "http://" not in rest and "https://" not in rest and "//cdn" not in rest
    assert "default-src 'none'" in rest


def test_the_vendored_plotly_bundle_is_the_python_packages_version_and_draws_every_chart(built, page):
    from plotly.offline import get_plotlyjs_version

    from dagster_project.reporting.dashboard_html import BUNDLE_TRACE_TYPES, _plotly_js

    assert _plotly_js().startswith(f"/**\n* plotly.js (basic - minified) v{get_plotlyjs_version()}\n")
    charts = page_data(built.html)["charts"]
    traces = [trace for chart in charts for trace in chart["figure"]["data"]]
    assert traces and {trace.get("type", "scatter") for trace in traces} <= BUNDLE_TRACE_TYPES


def test_the_asset_is_materialized_with_path_size_charts_and_a_kpi_preview(built):
    with dg.DagsterInstance.from_config(str(built.home / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["reporting", "admin_dashboard"]))
    assert event is not None
    metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    assert metadata["path"] == str(built.html)
    assert metadata["size_bytes"] == built.asset_html.stat().st_size
    assert metadata["charts"] == len(page_data(built.asset_html)["charts"]) == 8
    assert "| Active coaches |" in metadata["kpis"] and "| Revenue | $" in metadata["kpis"]


def test_kpis_of_every_month_range_equal_sql_over_the_marts(built, page):
    months = page["months"]
    assert len(months) >= 2, months
    assert page["default_range"] == {"from": months[0], "to": months[-1]}
    with connection(built.settings(), read_only=True) as conn:
        for start, end in all_ranges(months):
            expected = expected_kpis(conn, start, end)
            shown = page["kpis"][f"{start}:{end}"]
            for key, value in expected.items():
                assert shown[key]["value"] == (None if value is None else str(value)), (start, end, key)
                assert shown[key]["display"] == expected_display(key, value), (start, end, key)
    # Ranges are not sums of months for distinct coaches: a coach active in two months counts once.
    whole = page["kpis"][f"{months[0]}:{months[-1]}"]
    per_month = sum(int(page["kpis"][f"{m}:{m}"]["active_coaches"]["value"]) for m in months)
    assert int(whole["active_coaches"]["value"]) < per_month


def test_gross_margin_pct_of_a_month_equals_billing_analytics(built, page):
    with connection(built.settings(), read_only=True) as conn:
        rows = conn.execute("select strftime(billing_month, '%Y-%m'), gross_margin_pct, gross_margin_usd "
                            "from marts.billing_analytics_monthly").fetchall()
    for month, pct, margin in rows:
        shown = page["kpis"][f"{month}:{month}"]
        assert shown["gross_margin_pct"]["value"] == (None if pct is None else str(pct))
        assert Decimal(shown["gross_margin_usd"]["value"]) == margin


def test_heavy_users_are_the_top_tenth_by_billable_minutes_named_by_pseudonym(built, page):
    with connection(built.settings(), read_only=True) as conn:
        pseudonyms = {p for (p,) in conn.execute(
            "select pseudonym from governance.pseudonyms where id_kind = 'user'").fetchall()}
        for start, end in all_ranges(page["months"]):
            expected = expected_heavy_users(conn, start, end)
            heavy = page["heavy_users"][f"{start}:{end}"]
            assert heavy["heavy_users"] == len(expected)
            assert heavy["heavy_minutes"] == sum(m for _, m in expected)
            assert heavy["active_coaches"] == int(page["kpis"][f"{start}:{end}"]["active_coaches"]["value"])
            assert [(r[0], r[1]) for r in heavy["rows"]] == expected[: page["heavy_rows_shown"]]
            assert {r[0] for r in heavy["rows"]} <= pseudonyms
    assert any(page["heavy_users"][k]["heavy_users"] for k in page["heavy_users"])


def test_the_page_holds_no_raw_id_and_no_personal_data(built):
    """Every id of the marts and every vault value is searched for in the page (outside plotly.js)."""
    from plotly.offline import get_plotlyjs

    text = built.html.read_text(encoding="utf-8").replace(get_plotlyjs(), "")
    with connection(built.settings(), read_only=True) as conn:
        ids = {v for (v,) in conn.execute("""
            select user_id from marts.usage_logs union select client_id from marts.usage_logs
            union select session_id from marts.usage_logs union select attempt_id from marts.usage_logs
            union select usage_log_id from marts.usage_logs union select user_id from marts.dim_users
            union select client_id from marts.dim_clients union select subject_id from marts.gdpr_requests
            union select request_id from marts.gdpr_requests""").fetchall() if v}
        pii = {v for (v,) in conn.execute("select value from vault.pii").fetchall() if v}
    assert len(ids) > 100 and len(pii) > 10  # the search below has something to find
    leaked_ids = sorted(v for v in ids if v in text)
    # Short values (a 3-letter name) are searched as whole words, so that CSS or a label cannot match.
    leaked_pii = sorted(v for v in pii if (re.search(rf"\b{re.escape(v)}\b", text) if len(v) < 6 else v in text))
    assert leaked_ids == [] and leaked_pii == []


def test_compliance_figures_equal_the_warehouse(built, page):
    compliance = page["compliance"]
    with connection(built.settings(), read_only=True) as conn:
        open_, completed, overdue = _one(conn, "select count(*) filter (where status <> 'completed'), "
                                               "count(*) filter (where status = 'completed'), "
                                               "count(*) filter (where is_overdue) from marts.gdpr_requests", [])
        quarantined = _one(conn, "select count(*) from raw.quarantine", [])[0]
        last_runs = dict(conn.execute(
            "select data_category, max(strftime(run_at, '%Y-%m-%d %H:%M')) from marts.retention_runs "
            "where not is_dry_run group by 1").fetchall())
        chain = verify(conn)
    assert (compliance["gdpr"]["totals"]["open"], compliance["gdpr"]["totals"]["completed"],
            compliance["gdpr"]["totals"]["overdue"]) == (open_, completed, overdue)
    assert compliance["quarantine"]["total"] == quarantined > 0
    assert all(":" not in r["reason_kind"] for r in compliance["quarantine"]["by_reason"])
    assert {r["policy"]: r["last_run_at"] for r in compliance["retention"] if r["last_run_at"]} == last_runs
    assert last_runs  # `coachwh retention` ran
    assert compliance["audit_chain"]["ok"] and compliance["audit_chain"]["head_hash"] == chain.head_hash
    assert chain.head_hash in built.html.read_text(encoding="utf-8")


def test_the_build_shows_the_latest_result_of_every_check_of_its_own_run(built):
    """The asset runs last in the build job, after every asset check of the run."""
    stdout = built.run.stdout
    run_id = re.search(r"^run (\S+) succeeded", stdout, re.M).group(1)
    evaluated = int(re.search(r"^checks: \d+ of (\d+) passed", stdout, re.M).group(1))
    checks = page_data(built.asset_html)["checks"]
    assert len(checks) == evaluated
    assert {c["run_id"] for c in checks} == {run_id[:8]}
    warnings = {(c["asset"], c["check"]) for c in checks if c["status"] == "warning"}
    assert ("raw/quarantine", "quarantine_is_empty") in warnings
    order = ["failed", "warning", "not run", "passed"]
    assert [order.index(c["status"]) for c in checks] == sorted(order.index(c["status"]) for c in checks)


def test_the_report_command_opens_on_the_range_it_is_given(built, capsys, monkeypatch):
    for key, value in built.env.items():
        monkeypatch.setenv(key, value)
    months = page_data(built.html)["months"]
    assert main(["report", "--from", months[1], "--to", months[1]]) == 0
    assert f"dashboard: {built.html}" in capsys.readouterr().out
    assert page_data(built.html)["default_range"] == {"from": months[1], "to": months[1]}
    html = built.html.read_text(encoding="utf-8")
    expected = page_data(built.html)["kpis"][f"{months[1]}:{months[1]}"]["revenue_usd"]
    assert f'data-kpi="revenue_usd" data-value="{expected["value"]}">{expected["display"]}<' in html
    assert main(["report", "--from", "2026-13"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    with connection(built.settings(), read_only=True) as conn, pytest.raises(CoachwhError, match="covers"):
        collect_dashboard_data(conn, None, ("2031-01", ""))
    assert main(["report"]) == 0  # leave the all-months page for the browser test


def test_without_a_built_warehouse_the_report_says_what_to_do(settings):
    with pytest.raises(CoachwhError, match="coachwh run"):
        build_dashboard(settings, None)
    duckdb.connect(str(settings.duckdb_path)).close()  # a file with no marts
    with pytest.raises(CoachwhError, match=r"not built yet.*coachwh run"):
        build_dashboard(settings, None)


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    ("1", "8", "12.50"), ("1", "3", "33.33"), ("2", "3", "66.67"), ("-1", "8", "-12.50"),
    ("1", "0", None), ("0.000005", "0.001", "0.50"), ("123456789.123456", "987654321.654321", "12.50"),
    ("1", "200000", "0.00"), ("1", "160000", "0.00"), ("3", "160000", "0.00"), ("1", "20000", "0.01"),
])
def test_ratios_are_divided_exactly_and_rounded_half_up(numerator, denominator, expected):
    conn = duckdb.connect()
    value = conn.execute(
        f"select {half_up_pct(f'cast({numerator} as decimal(18, 6))', f'cast({denominator} as decimal(18, 6))')}"
    ).fetchall()[0][0]
    assert (None if value is None else str(value)) == expected


def test_the_dashboard_asset_runs_last_in_every_build_and_in_no_other_job():
    from dagster_project.dbt_project import ensure_manifest

    ensure_manifest()
    from dagster_project.definitions import defs

    build = defs.resolve_job_def("coachwh_build")
    assert "reporting__admin_dashboard" in [node.name for node in build.graph.nodes]
    assert build.graph.node_named("reporting__admin_dashboard").definition.tags["dagster/priority"] == "-100"
    assert "reporting__admin_dashboard" not in [n.name for n in defs.resolve_job_def("billing_monthly_close").graph.nodes]
    graph = defs.get_repository_def().asset_graph
    node = graph.get(dg.AssetKey(["reporting", "admin_dashboard"]))
    assert node.group_name == "reporting"
    assert dg.AssetKey(["governance", "anonymized_views"]) in node.parent_keys
