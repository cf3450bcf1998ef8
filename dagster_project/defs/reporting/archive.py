"""The archive of each closed billing month, as a monthly-partitioned asset run right after its close."""

import dagster as dg

from dagster_project.audit.trail import resolve_actor
from dagster_project.billing.close import parse_month
from dagster_project.defs.billing.assets import BILLING_MONTHS, MONTHLY_CLOSE_KEY
from dagster_project.reporting.archive import ArchiveResult, archive_through
from dagster_project.resources import WarehouseResource

MONTHLY_ARCHIVE_KEY = dg.AssetKey(["reporting", "monthly_archive"])
# What it copies, drawn for lineage; it runs in the close job, never in the daily build.
ARCHIVED_MARTS = [dg.AssetKey(["marts", name]) for name in ("usage_logs", "billing_statements", "billing_adjustments")]


def _metadata(this: ArchiveResult, results: list[ArchiveResult]) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "billing_month": dg.MetadataValue.text(f"{this.month:%Y-%m}"),
        "status": dg.MetadataValue.text(this.status),
        "path": dg.MetadataValue.path(str(this.path)),
        "manifest_sha256": dg.MetadataValue.text(this.manifest_sha256),
        "months_archived_by_this_run": dg.MetadataValue.text(
            ", ".join(f"{r.month:%Y-%m}" for r in results if r.status in ("written", "rewritten")) or "none"
        ),
    }
    for summary in this.files:
        stem = summary.name.removesuffix(".parquet")
        metadata[f"{stem}_rows"] = dg.MetadataValue.int(summary.rows)
        for column, total in summary.sums.items():
            # Exact decimals as text: a float would round money.
            metadata[f"{stem}_sum_{column}"] = dg.MetadataValue.text(f"{total:f}")
    if this.difference:
        metadata["difference"] = dg.MetadataValue.text(this.difference)
    return metadata


@dg.asset(
    key=MONTHLY_ARCHIVE_KEY,
    deps=[MONTHLY_CLOSE_KEY, *ARCHIVED_MARTS],
    partitions_def=BILLING_MONTHS,
    group_name="reporting",
    kinds={"duckdb", "parquet"},
    description=(
        "The archive of one closed billing month (partition = month, UTC): its usage logs, statements and "
        "adjustments as Parquet with manifest.json (rows, SHA-256, money sums, the close's digest) under "
        "COACHWH_HOME/archive/<YYYY-MM>/, audited. Runs right after billing/monthly_close in its job; earlier "
        "closed months without an archive are archived too. An archive already there is left alone: unchanged, "
        "it is a no-op; if late data changed the warehouse since, it is kept and reported (rewrite it with "
        "`coachwh archive --month YYYY-MM --force --reason ...`)."
    ),
)
def monthly_archive(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    month = parse_month(context.partition_key)
    with warehouse.connect() as conn:
        results = archive_through(conn, warehouse.settings(), month, actor=resolve_actor(context.run.tags),
                                  run_id=context.run_id)
    for result in results:
        if result.status == "kept_stale":
            context.log.warning(result.summary())
        else:
            context.log.info(result.summary())
    return dg.MaterializeResult(metadata=_metadata(results[-1], results))
