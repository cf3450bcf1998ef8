"""The admin dashboard as an asset: rebuilt at the end of every build run."""

import dagster as dg

from dagster_project.defs.governance.anonymized import ANONYMIZED_VIEWS_KEY
from dagster_project.defs.governance.gdpr import GDPR_EXPORTS_KEY
from dagster_project.reporting.dashboard import build_dashboard
from dagster_project.reporting.dashboard_checks import defined_check_keys, latest_check_results
from dagster_project.resources import WarehouseResource

ADMIN_DASHBOARD_KEY = dg.AssetKey(["reporting", "admin_dashboard"])
# What the page reads, for lineage and order. Only dbt models and Python assets downstream of the
# dbt step: a dep on a raw/* source (raw.quarantine is read too) would split the dbt step in two.
READS = [
    *(dg.AssetKey(["marts", name]) for name in
      ("usage_logs", "billing_analytics_monthly", "dim_users_history", "gdpr_requests", "retention_runs")),
    dg.AssetKey(["reference", "plans"]),
    dg.AssetKey(["reference", "data_retention_policies"]),
    ANONYMIZED_VIEWS_KEY,
    GDPR_EXPORTS_KEY,
]


@dg.asset(
    key=ADMIN_DASHBOARD_KEY,
    deps=READS,
    group_name="reporting",
    kinds={"duckdb", "html"},
    # Lowest priority: among the steps ready to run it goes last, after every asset check of the
    # run, so the page shows this run's check results.
    op_tags={"dagster/priority": "-100"},
    description=(
        "COACHWH_HOME/reports/admin_dashboard.html: one self-contained page (plotly.js inlined, no network) "
        "with KPIs for any month range, usage trends per day and month, plans and heavy users (pseudonyms "
        "only), compliance (GDPR, retention, audit chain, quarantine) and the latest result of every asset "
        "check. Aggregates only, read-only. See docs/dashboard.md; `coachwh report` rebuilds it."
    ),
)
def admin_dashboard(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    checks = latest_check_results(context.instance, defined_check_keys())
    report = build_dashboard(warehouse.settings(), checks)
    opened = f"{report.default_range[0]} to {report.default_range[1]}" if report.default_range else "no data yet"
    context.log.info("admin dashboard: %s (%s bytes, %s charts, %s)", report.path, report.size_bytes,
                     report.charts, opened)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "size_bytes": dg.MetadataValue.int(report.size_bytes),
            "charts": dg.MetadataValue.int(report.charts),
            "month_range": dg.MetadataValue.text(opened),
            "check_results": dg.MetadataValue.int(report.checks or 0),
            "kpis": dg.MetadataValue.md(report.kpi_markdown),
        },
    )
