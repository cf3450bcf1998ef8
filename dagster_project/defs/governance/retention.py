"""Retention as an asset run daily by its own job, and the check that nothing outlives its policy.

Like the data-subject request assets, the asset succeeds when a policy fails: the failure is in its
governance.retention_runs row, the run's metadata and the check below, and the next day's run
retries it; one stuck policy never blocks the warehouse.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from dagster_project.asof import resolve_as_of
from dagster_project.audit.trail import resolve_actor
from dagster_project.errors import CoachwhError
from dagster_project.governance.retention import RetentionReport, enforce_retention, retention_violations
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import table_exists

RETENTION_KEY = dg.AssetKey(["governance", "retention_enforcement"])
# The schedule runs daily: a last run older than this means it stopped.
STALE_AFTER = timedelta(days=2)


class RetentionConfig(dg.Config):
    """Run configuration of the retention run."""

    as_of: str = ""
    """The instant the run acts as of (ISO-8601 with offset); empty means the run's as-of tag, else now."""
    dry_run: bool = False
    """Report what would be acted on and change nothing (no retention_runs rows, no audit record)."""


def _metadata(report: RetentionReport) -> dict[str, dg.MetadataValue]:
    lines = ["| category | action | evaluated | acted on | failed | status | detail |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.data_category} | {r.action} | {r.evaluated} | {r.acted_on} | {r.failed} | {r.status} | "
              f"{r.detail.replace('|', '/')} |" for r in report.results]
    return {
        "retention_run_id": dg.MetadataValue.text(report.retention_run_id or "dry run: nothing written"),
        "as_of": dg.MetadataValue.text(report.as_of.isoformat()),
        "dry_run": dg.MetadataValue.bool(report.dry_run),
        "acted_on": dg.MetadataValue.int(sum(r.acted_on for r in report.results)),
        "failed_policies": dg.MetadataValue.int(len(report.failed_policies)),
        "policies": dg.MetadataValue.md("\n".join(lines)),
    }


@dg.asset(
    key=RETENTION_KEY,
    # The policies are read from the seed's table (or its CSV); no declared dep, because the seed is built
    # by the dbt step, which also builds marts.retention_runs downstream of this asset.
    group_name="governance",
    kinds={"duckdb"},
    description=(
        "Enforces reference.data_retention_policies (spec §4.6): erases the PII of subjects soft-deleted past "
        "their policy, purges quarantined raw text after 30 days, deletes the raw events of sessions past their "
        "plan's retention once their usage logs exist (counted in governance.retention_purged_rows), and "
        "archives platform audit events after 10 years. Writes one governance.retention_runs row per policy "
        "and one audit record per run; with dry_run it only reports."
    ),
)
def retention_enforcement(
    context: dg.AssetExecutionContext, config: RetentionConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    tagged = context.run.tags.get("coachwh/as_of", "")
    as_of = datetime.fromisoformat(resolve_as_of(config.as_of or ("" if tagged == "now" else tagged)))
    with warehouse.connect(read_only=config.dry_run) as conn:
        report = enforce_retention(warehouse.settings(), conn, as_of, dry_run=config.dry_run, run_id=context.run_id,
                                   actor=resolve_actor(context.run.tags))
    for r in report.results:
        log = context.log.warning if r.status == "failed" else context.log.info
        log("%s (%s): evaluated %s, acted on %s, failed %s; %s", r.data_category, r.action, r.evaluated,
            r.acted_on, r.failed, r.detail)
    return dg.MaterializeResult(metadata=_metadata(report))


@dg.asset_check(asset=RETENTION_KEY, description=(
    "Nothing outlives its retention policy: as of the last real retention run, no soft-deleted subject past "
    "its policy keeps PII, no quarantined text is older than its policy, no purgeable session is past its "
    "plan's retention, no platform audit event is past 10 years; that run had no failed policy and ran "
    "within the last 2 days (before any run: as of now). Severity WARN: the next daily run retries."
))
def nothing_outlives_its_policy(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    now = datetime.now(UTC)
    with warehouse.connect() as conn:
        has_runs = table_exists(conn, "governance", "retention_runs")
        last = conn.execute(
            "select retention_run_id, as_of, run_at, count(*) filter (where status = 'failed') "
            "from governance.retention_runs where not is_dry_run group by all order by run_at desc limit 1"
        ).fetchall() if has_runs else []
        run_id, as_of, run_at, failed = last[0] if last else (None, now, None, 0)
        try:
            violations = retention_violations(conn, as_of)
            problem = None
        except CoachwhError as exc:
            violations, problem = [], str(exc)
    overdue = {category: count for category, count in violations if count}
    stale = run_at is not None and now - run_at > STALE_AFTER
    return dg.AssetCheckResult(
        passed=not overdue and not failed and not stale and problem is None,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "last_retention_run_id": dg.MetadataValue.text(run_id or "none yet"),
            "evaluated_as_of": dg.MetadataValue.text(as_of.isoformat()),
            "last_run_at": dg.MetadataValue.text(run_at.isoformat() if run_at else "never"),
            "failed_policies_in_last_run": dg.MetadataValue.int(failed),
            "past_retention": dg.MetadataValue.json(dict(violations)),
            "problem": dg.MetadataValue.text(problem or "none"),
        },
    )


retention_job = dg.define_asset_job(
    "retention_daily",
    selection=dg.AssetSelection.assets(RETENTION_KEY),
    description="Enforce the data retention policies (and check that nothing outlives them).",
    tags={"coachwh/job": "retention"},
)

daily_retention_schedule = dg.ScheduleDefinition(
    name="daily_retention",
    job=retention_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="Enforces the data retention policies every day at 02:00 UTC, before the daily build.",
)
