"""The ingestion asset: new landing files -> raw.*, raw.quarantine, raw.ingested_files, vault.pii."""


import dagster as dg
import duckdb

from dagster_project.audit.config_changes import record_config_change
from dagster_project.audit.trail import resolve_actor
from dagster_project.contracts import STREAMS
from dagster_project.ingestion import IngestionReport, ingest_landing
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import ensure_schema, transaction

RAW_STREAM_KEYS = {stream: dg.AssetKey(["raw", stream]) for stream in STREAMS}
QUARANTINE_KEY = dg.AssetKey(["raw", "quarantine"])
LEDGER_KEY = dg.AssetKey(["raw", "ingested_files"])
VAULT_KEY = dg.AssetKey(["vault", "pii"])
# Every run starts here and ingestion is the first writer of the trail: the trail's asset (and its
# chain check) belongs to this step.
AUDIT_KEY = dg.AssetKey(["audit", "audit_logs"])

_DESCRIPTIONS = {
    QUARANTINE_KEY: "One row per rejected record (or whole rejected file) with stream, file, line and reason.",
    LEDGER_KEY: "One row per landing file processed: content hash, batch, read/loaded/duplicate/quarantined counts.",
    VAULT_KEY: "The only plaintext PII of the warehouse: one row per subject, field, value and source record.",
}


def _specs() -> list[dg.AssetSpec]:
    specs = [
        dg.AssetSpec(
            key,
            description=f"Valid, de-duplicated `{stream}` records as delivered (PII fields split off to the vault); one row per id.",
            group_name="ingestion",
            kinds={"duckdb", "polars"},
        )
        for stream, key in RAW_STREAM_KEYS.items()
    ]
    specs += [
        dg.AssetSpec(key, description=text, group_name="ingestion", kinds={"duckdb"})
        for key, text in _DESCRIPTIONS.items()
    ]
    specs.append(dg.AssetSpec(
        AUDIT_KEY, group_name="audit", kinds={"duckdb"},
        description="The warehouse's audit trail: one append-only, hash-chained record per data operation "
                    "(ingestion, builds, closes, erasures, exports, retention); see `coachwh audit verify`.",
    ))
    return specs


def _summary_markdown(report: IngestionReport) -> str:
    lines = ["| stream | files | read | loaded | duplicate | quarantined | rejected files |", "|---|---|---|---|---|---|---|"]
    for stream, row in sorted(report.by_stream().items()):
        lines.append(
            f"| {stream} | {row['files']} | {row['read']} | {row['loaded']} | {row['duplicate']} | "
            f"{row['quarantined']} | {row['rejected_files']} |"
        )
    return "\n".join(lines)


def _table_rows(conn: duckdb.DuckDBPyConnection, keys: list[dg.AssetKey]) -> dict[dg.AssetKey, int]:
    """Rows now in each raw table (the UI plots `dagster/row_count` over runs), in one query."""
    union = " union all ".join(
        f"select {i} as i, count(*) as n from {key.path[0]}.{key.path[1]}" for i, key in enumerate(keys)
    )
    return {keys[i]: int(n) for i, n in conn.execute(union).fetchall()}


@dg.multi_asset(specs=_specs(), name="ingest_landing_files", can_subset=False)
def ingest_landing_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Load every landing file not loaded before, validating each record against its contract."""
    settings = warehouse.settings()
    actor = resolve_actor(context.run.tags)
    with warehouse.connect() as conn:
        ensure_schema(conn)
        with transaction(conn):
            record_config_change(conn, settings, run_id=context.run_id, actor=actor)
        report = ingest_landing(settings, conn, run_id=context.run_id, actor=actor)
        totals = _table_rows(conn, [*RAW_STREAM_KEYS.values(), QUARANTINE_KEY, LEDGER_KEY])
    by_stream = report.by_stream()
    context.log.info(
        "ingested %s new files: %s records loaded, %s duplicates, %s quarantined",
        len(report.files), report.total("rows_loaded"), report.total("rows_duplicate"),
        report.total("rows_quarantined"),
    )
    for stream, key in RAW_STREAM_KEYS.items():
        row = by_stream.get(stream, {})
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "new_files": dg.MetadataValue.int(row.get("files", 0)),
                "rows_loaded": dg.MetadataValue.int(row.get("loaded", 0)),
                "rows_duplicate": dg.MetadataValue.int(row.get("duplicate", 0)),
                "rows_quarantined": dg.MetadataValue.int(row.get("quarantined", 0)),
                "dagster/row_count": dg.MetadataValue.int(totals[key]),
            },
        )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={"rows_quarantined": dg.MetadataValue.int(report.total("rows_quarantined")),
                  "files_rejected": dg.MetadataValue.int(sum(f.status == "rejected" for f in report.files)),
                  "dagster/row_count": dg.MetadataValue.int(totals[QUARANTINE_KEY])},
    )
    yield dg.MaterializeResult(
        asset_key=LEDGER_KEY,
        metadata={
            "new_files": dg.MetadataValue.int(len(report.files)),
            "rows_read": dg.MetadataValue.int(report.total("rows_read")),
            "rows_ingested": dg.MetadataValue.int(report.total("rows_loaded")),
            "summary": dg.MetadataValue.md(_summary_markdown(report)),
            "batch_ids": dg.MetadataValue.text(",".join(map(str, report.batch_ids)) or "none"),
            "dagster/row_count": dg.MetadataValue.int(totals[LEDGER_KEY]),
        },
    )
    yield dg.MaterializeResult(asset_key=VAULT_KEY)
    with warehouse.connect() as conn:
        records, head = conn.execute(
            "select count(*), max_by(record_hash, sequence_number) from audit.audit_logs").fetchall()[0]
    yield dg.MaterializeResult(asset_key=AUDIT_KEY, metadata={"records": dg.MetadataValue.int(records),
                                                              "head_hash": dg.MetadataValue.text(head or "")})
