"""Data-subject requests as assets: erasures right after ingestion, packages after the marts.

Erasure runs before dbt, so the dimensions built in the same run already read the subject as
anonymized (governance.erasures). Packages wait for the marts, whose usage logs and statements
they contain. A request that fails is left `failed` and retried by the next run: the asset itself
succeeds, so one stuck request never blocks the rest of the warehouse (the overdue-request check
reports it).
"""

import dagster as dg

from dagster_project.audit.trail import resolve_actor
from dagster_project.governance.processing import ProcessingReport, process_erasures, process_exports
from dagster_project.resources import WarehouseResource

GDPR_ERASURE_KEY = dg.AssetKey(["governance", "gdpr_erasure"])
GDPR_EXPORTS_KEY = dg.AssetKey(["governance", "gdpr_exports"])


def _metadata(report: ProcessingReport) -> dict[str, dg.MetadataValue]:
    # Request ids and outcomes only: never a subject id or PII in run metadata.
    return {
        "requests_processed": dg.MetadataValue.int(len(report.results)),
        "completed": dg.MetadataValue.int(report.count("completed")),
        "failed": dg.MetadataValue.int(report.count("failed")),
        "outcomes": dg.MetadataValue.json(report.outcomes()),
        "requests": dg.MetadataValue.json(
            [{"request_id": r.request_id, "type": r.request_type, "status": r.status, "outcome": r.outcome,
              "error": r.error} for r in report.results]
        ),
    }


def _log(context: dg.AssetExecutionContext, report: ProcessingReport) -> None:
    context.log.info("data-subject requests: %s", report.summary())
    for result in report.results:
        if result.status == "failed":
            context.log.warning("request %s failed, retried next run: %s", result.request_id, result.error)


@dg.asset(
    key=GDPR_ERASURE_KEY,
    # It reads raw.gdpr_requests too, but declares only the vault: dbt's source tests on raw.* run in the
    # dbt step, and a dependency on their asset would put that step both before and after this one.
    deps=[dg.AssetKey(["vault", "pii"])],
    group_name="governance",
    kinds={"duckdb"},
    description=(
        "Processes pending erasure requests (GDPR Art. 17): the subject's PII is deleted from the vault, "
        "which is rewritten whole, its earlier export packages are deleted, and the request is marked "
        "completed in governance.gdpr_request_status with a governance.erasures row and an audit record. "
        "Usage logs and statements stay, by id. A failed erasure is left failed and retried next run."
    ),
)
def gdpr_erasure(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        report = process_erasures(warehouse.settings(), conn, run_id=context.run_id,
                                  actor=resolve_actor(context.run.tags))
    _log(context, report)
    return dg.MaterializeResult(metadata=_metadata(report))


@dg.asset(
    key=GDPR_EXPORTS_KEY,
    deps=[dg.AssetKey(["marts", "usage_logs"]), dg.AssetKey(["marts", "billing_statements"]), GDPR_ERASURE_KEY],
    group_name="governance",
    kinds={"duckdb"},
    description=(
        "Processes pending access and portability requests (GDPR Art. 15, 20): a package in "
        "COACHWH_HOME/exports/<request_id>/ with the subject's personal data, profile history, usage logs "
        "and statements as JSON and CSV, and manifest.json with each file's SHA-256; audited."
    ),
)
def gdpr_exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        report = process_exports(warehouse.settings(), conn, run_id=context.run_id,
                                 actor=resolve_actor(context.run.tags))
    _log(context, report)
    return dg.MaterializeResult(metadata=_metadata(report))
