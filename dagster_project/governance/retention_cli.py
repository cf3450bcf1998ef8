"""`coachwh retention [--dry-run] [--as-of ISO]`: enforce the retention policies, or show what it would do.

The real run calls the same `enforce_retention` the daily `retention_daily` job runs.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from dagster_project.asof import resolve_as_of
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.governance.retention import RetentionReport, enforce_retention
from dagster_project.warehouse import connection

DESCRIPTION = (
    "Apply every policy of reference.data_retention_policies (else dbt/seeds/data_retention_policies.csv): "
    "erase the PII of subjects soft-deleted past their policy, purge old quarantined text and session "
    "detail past its plan's retention, archive old platform audit events. Prints one line per policy: "
    "category, action, evaluated, acted on, failed, detail. A real run records a governance.retention_runs "
    "row per policy and one audit record."
)


def add_retention_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `retention` to the `coachwh` command line (the lead wires it into cli.py)."""
    parser = subparsers.add_parser("retention", help="enforce the data retention policies now (or --dry-run)",
                                   description=DESCRIPTION)
    parser.add_argument(
        "--dry-run", action="store_true",
        help="show what a real run would act on ('acted on' = would act on); changes nothing and writes "
             "nothing, not even a retention_runs row or an audit record",
    )
    parser.add_argument("--as-of", help="act as of this instant (ISO-8601 with offset), default now")
    parser.set_defaults(func=cmd_retention)
    return parser


def cmd_retention(args: argparse.Namespace) -> int:
    """Run retention; exit 1 when a policy failed (its line says why), else 0."""
    settings = Settings.from_env()
    as_of = datetime.fromisoformat(resolve_as_of(args.as_of or ""))
    if not settings.duckdb_path.exists():
        raise CoachwhError(f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run`")
    if not args.dry_run:
        return _run_job(args.as_of or "")
    # A dry run only reads, so it can run beside a reader such as the Dagster UI.
    with connection(settings, read_only=True) as conn:
        report = enforce_retention(settings, conn, as_of, dry_run=True)
    print_report(report)
    return 1 if report.failed_policies else 0


def _run_job(as_of: str) -> int:
    """A real run materializes the same asset the daily schedule does (one code path, in run history)."""
    from dagster_project.runner import run_job

    outcome = run_job(
        "retention_daily",
        run_config={"ops": {"governance__retention_enforcement": {"config": {"as_of": as_of, "dry_run": False}}}},
        tags={"coachwh/as_of": as_of or "now"},
    )
    if not outcome.success:
        print(f"retention run failed: {outcome.error}; the log is in {outcome.log_path}")
        return 1
    settings = Settings.from_env()
    with connection(settings, read_only=True) as conn:
        rows = conn.execute(
            """
            select retention_run_id, data_category, action, evaluated, acted_on, failed, status, detail
            from governance.retention_runs
            where retention_run_id = (select retention_run_id from governance.retention_runs
                                      where not is_dry_run order by run_at desc limit 1)
            order by data_category
            """
        ).fetchall()
    print(f"retention run {rows[0][0] if rows else '?'} (Dagster run {outcome.run_id})")
    width = max((len(r[1]) for r in rows), default=0)
    for _, category, action, evaluated, acted_on, failed, _status, detail in rows:
        print(f"{category:<{width}}  {action:<9}  evaluated {evaluated:>7}  acted on {acted_on:>7}  "
              f"failed {failed:>5}  {detail or ''}")
    failing = [c for c in outcome.checks if not c.passed]
    for check in failing:
        print(f"check {check.name} FAILED ({check.severity})")
    return 1 if any(r[5] for r in rows) or outcome.blocking_failures else 0


def print_report(report: RetentionReport) -> None:
    if report.dry_run:
        print(f"retention dry run as of {report.as_of.isoformat()}: nothing was changed; "
              f"'acted on' is what a real run would act on")
    else:
        print(f"retention run {report.retention_run_id} as of {report.as_of.isoformat()}")
    width = max((len(r.data_category) for r in report.results), default=0)
    for r in report.results:
        print(f"{r.data_category:<{width}}  {r.action:<9}  evaluated {r.evaluated:>7}  acted on {r.acted_on:>7}  "
              f"failed {r.failed:>5}  {r.detail}")
    if report.failed_policies:
        print(f"{len(report.failed_policies)} policies FAILED: "
              f"{', '.join(r.data_category for r in report.failed_policies)}")
