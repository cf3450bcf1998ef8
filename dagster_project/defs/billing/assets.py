"""Monthly billing: the close of each billing month as a monthly-partitioned asset."""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.asof import resolve_as_of
from dagster_project.audit.trail import resolve_actor
from dagster_project.billing.close import close_through, parse_month
from dagster_project.config import Settings
from dagster_project.resources import WarehouseResource

# end_offset=1: the current month is a partition too, so that a close asked for early is refused
# with the grace-period message rather than an unknown-partition error.
BILLING_MONTHS = dg.MonthlyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)
# The statements read the closed tables this asset writes (dbt sources billing.closed_*), so the
# graph shows the close upstream of them; that the close also reads the open statements is said
# in its description rather than drawn, which would make a cycle.
MONTHLY_CLOSE_KEY = dg.AssetKey(["billing", "monthly_close"])
STATEMENTS_KEY = dg.AssetKey(["marts", "billing_statements"])


@dg.asset(
    key=MONTHLY_CLOSE_KEY,
    partitions_def=BILLING_MONTHS,
    group_name="billing",
    kinds={"duckdb"},
    description=(
        "The close of one billing month (partition = month, UTC): its open statements "
        "(marts/billing_statements), the per-log "
        "charges they cover and the adjustments booked into it are frozen in schema `billing`, "
        "never to change. Refused before the month's end plus the grace period; closing a closed "
        "month changes nothing; earlier months still open are closed first."
    ),
)
def monthly_close(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    month = parse_month(context.partition_key)
    as_of = datetime.fromisoformat(resolve_as_of(context.run.tags.get("coachwh/as_of", "")))
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    settings = Settings.from_env()
    with warehouse.connect() as conn:
        results = close_through(conn, month, as_of, settings.grace_days, resolve_actor(context.run.tags),
                                context.run_id)
    this = results[-1]
    for result in results:
        context.log.info(
            "%s %s: %s statements, %s adjustments frozen, digest %s", result.billing_month,
            "closed" if result.newly_closed else "was already closed", result.statements,
            result.adjustments_frozen, result.month_digest,
        )
    return dg.MaterializeResult(
        metadata={
            "billing_month": dg.MetadataValue.text(f"{month:%Y-%m}"),
            "newly_closed": dg.MetadataValue.bool(this.newly_closed),
            "statements": dg.MetadataValue.int(this.statements),
            "adjustments_frozen": dg.MetadataValue.int(this.adjustments_frozen),
            "month_digest": dg.MetadataValue.text(this.month_digest),
            "months_closed_by_this_run": dg.MetadataValue.text(
                ", ".join(f"{r.billing_month:%Y-%m}" for r in results if r.newly_closed) or "none"
            ),
        }
    )


close_job = dg.define_asset_job(
    "billing_monthly_close",
    # The month's archive (defs/reporting/archive.py, which imports this module: hence the literal
    # key) runs right after its close, so the monthly schedule archives each month as it closes.
    selection=dg.AssetSelection.assets(MONTHLY_CLOSE_KEY, dg.AssetKey(["reporting", "monthly_archive"])),
    partitions_def=BILLING_MONTHS,
    description="Close one billing month and archive it (backfill a range of months from the UI).",
    tags={"coachwh/job": "billing_close"},
)


def close_schedule(grace_days: int) -> dg.ScheduleDefinition:
    """Closes month M on day grace_days + 1 of M+1 at 04:00 UTC, after the daily build at 03:00."""
    return dg.build_schedule_from_partitioned_job(
        close_job,
        name="monthly_billing_close",
        day_of_month=grace_days + 1,
        hour_of_day=4,
        description=f"Closes the previous billing month on day {grace_days + 1} (grace {grace_days} days).",
    )
