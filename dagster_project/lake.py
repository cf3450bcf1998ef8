"""The lake: the warehouse's input tables as Parquet files, for dbt targets that read files (Spark).

DuckDB stays the system of record of ingestion, the billing ledger, governance and the audit trail
(each written in DuckDB transactions). For the `spark` dbt targets those tables are published as
Parquet under `<lake>/<schema>/<table>/`, the layout a lakehouse holds, and the Spark build reads
them as external tables (dbt macro `register_lake_tables`). See docs/scale_out.md.

Publishing is incremental and stateless: a file's name carries what it holds, so a sync compares
names with the warehouse and writes only what differs.

- Tables with an ingestion batch column (raw streams, the file ledger, quarantine, the platform
  checksum verdicts) get one file per batch, `batch-<id>-rows-<n>-<schema>.parquet`. Rows of a
  batch are only ever deleted (retention), never updated, so a changed row count is a changed batch:
  that batch's file is rewritten (or removed when the batch is empty).
- Small tables written in place (billing ledger, governance state, audit trail) are rewritten whole
  when their content fingerprint changes: `table-<fingerprint>.parquet`.

`<schema>` is a fingerprint of the column list, so a contract change rewrites every file. Files are
written under a dot-name and renamed into place: Spark skips dot-files, so a reader never sees a
half-written file.

What is never published: the PII vault (a separate DuckDB file) and raw.quarantine.raw_text (a
rejected line can hold PII, and retention purges it in DuckDB only).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.contracts import load_contracts


@dataclass(frozen=True)
class LakeTable:
    schema: str
    table: str
    batch_column: str | None = None  # None: published whole
    exclude: tuple[str, ...] = ()


def lake_tables() -> list[LakeTable]:
    """Every table a dbt source reads (dbt/models/staging/**/_*sources.yml)."""
    tables = [LakeTable("raw", stream, "_batch_id") for stream in sorted(load_contracts())]
    tables += [
        LakeTable("raw", "ingested_files", "batch_id"),
        LakeTable("raw", "quarantine", "batch_id", exclude=("raw_text",)),
        LakeTable("audit", "platform_event_checks", "batch_id"),
        LakeTable("audit", "audit_logs"),
        LakeTable("billing", "closed_months"),
        LakeTable("billing", "closed_statements"),
        LakeTable("billing", "closed_log_charges"),
        LakeTable("billing", "closed_adjustments"),
        LakeTable("governance", "erasures"),
        LakeTable("governance", "gdpr_request_status"),
        LakeTable("governance", "retention_runs"),
    ]
    return tables


def lake_dir(settings: Settings) -> Path:
    return Path(os.environ.get("COACHWH_LAKE_DIR") or settings.home / "lake").expanduser().resolve()


def spark_dir(settings: Settings) -> Path:
    """The local Spark's warehouse directory and derby metastore (the `spark` target only)."""
    return Path(os.environ.get("COACHWH_SPARK_DIR") or settings.home / "spark").expanduser().resolve()


def is_spark_target(target: str | None = None) -> bool:
    """Whether dbt builds on Spark (targets spark, spark_thrift, spark_http of dbt/profiles.yml)."""
    name = target if target is not None else (os.environ.get("COACHWH_DBT_TARGET") or "duckdb")
    return name.startswith("spark")


def enabled() -> bool:
    """Publish the lake when dbt builds on Spark, or when COACHWH_LAKE_EXPORT asks for it.

    Off for the default DuckDB target: there nothing reads the files, and writing them would cost
    the default build time for nothing.
    """
    flag = (os.environ.get("COACHWH_LAKE_EXPORT") or "").strip().lower()
    return is_spark_target() or flag in {"1", "true", "yes"}


def publish_spark_env(settings: Settings) -> None:
    """Publish the paths dbt/profiles.yml reads for the Spark targets (absolute, under COACHWH_HOME)."""
    os.environ["COACHWH_LAKE_DIR"] = str(lake_dir(settings))
    os.environ["COACHWH_SPARK_DIR"] = str(spark_dir(settings))
    os.environ["COACHWH_SPARK_LOG4J"] = str(DBT_PROJECT_DIR / "spark" / "log4j2.properties")


@dataclass
class SyncReport:
    files_written: int = 0
    files_removed: int = 0
    rows_written: int = 0


def sync(conn: duckdb.DuckDBPyConnection, settings: Settings) -> SyncReport:
    """Bring `<lake>/<schema>/<table>/` up to date with the warehouse's tables (idempotent)."""
    root = lake_dir(settings)
    report = SyncReport()
    for table in lake_tables():
        columns = _columns(conn, table)
        if not columns:
            continue  # not created yet (ensure_schema creates them all on first ingestion)
        folder = root / table.schema / table.table
        folder.mkdir(parents=True, exist_ok=True)
        projection = ", ".join(_projected(name, kind) for name, kind in columns)
        shape = hashlib.sha256(repr(columns).encode()).hexdigest()[:8]
        if table.batch_column:
            _sync_batches(conn, table, folder, projection, shape, report)
        else:
            _sync_whole(conn, table, folder, projection, shape, report)
    return report


def sync_if_enabled(conn: duckdb.DuckDBPyConnection, settings: Settings) -> SyncReport | None:
    return sync(conn, settings) if enabled() else None


def _columns(conn: duckdb.DuckDBPyConnection, table: LakeTable) -> list[tuple[str, str]]:
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? order by ordinal_position",
        [table.schema, table.table],
    ).fetchall()
    return [(name, kind) for name, kind in rows if name not in table.exclude]


def _projected(name: str, kind: str) -> str:
    # JSON and 128-bit integers have no Parquet type every engine reads: publish them as text.
    if kind in {"JSON", "HUGEINT", "UHUGEINT"}:
        return f'cast("{name}" as varchar) as "{name}"'
    return f'"{name}"'


_BATCH_FILE = re.compile(r"^batch-(\d+)-rows-(\d+)-([0-9a-f]{8})\.parquet$")


def _sync_batches(
    conn: duckdb.DuckDBPyConnection, table: LakeTable, folder: Path, projection: str, shape: str, report: SyncReport
) -> None:
    wanted = {
        batch: rows
        for batch, rows in conn.execute(
            f'select "{table.batch_column}", count(*) from {table.schema}.{table.table} group by 1'
        ).fetchall()
    }
    # An empty table still needs its columns in the lake, for the external table's schema: one
    # file of no rows, "batch 0" (batch ids start at 1).
    wanted = wanted or {0: 0}
    present: dict[int, Path] = {}
    stale: list[Path] = []  # a batch whose rows changed, another column layout, an old empty file
    for path in folder.glob("*.parquet"):
        match = _BATCH_FILE.match(path.name)
        if match and match[3] == shape and wanted.get(int(match[1])) == int(match[2]):
            present[int(match[1])] = path
        else:
            stale.append(path)
    for batch, rows in sorted(wanted.items()):
        if batch not in present:
            sql = (f'select {projection} from {table.schema}.{table.table} '
                   f'where "{table.batch_column}" = {int(batch)}')
            _write(conn, sql, folder / f"batch-{batch:09d}-rows-{rows}-{shape}.parquet")
            report.files_written += 1
            report.rows_written += rows
    for path in stale:  # after the new files: a reader never misses a batch
        path.unlink()
        report.files_removed += 1


def _sync_whole(
    conn: duckdb.DuckDBPyConnection, table: LakeTable, folder: Path, projection: str, shape: str, report: SyncReport
) -> None:
    sql = f"select {projection} from {table.schema}.{table.table}"
    # Order-independent content fingerprint: these tables are updated in place (request status).
    rows, content = conn.execute(
        f"select count(*), coalesce(sum(hash(t)), 0) from ({sql}) as t"
    ).fetchall()[0]
    name = f"table-{shape}-{rows}-{int(content) % 10**12:012d}.parquet"
    if (folder / name).exists():
        return
    _write(conn, sql, folder / name)  # the new file first: a reader never sees the table empty
    report.files_written += 1
    report.rows_written += rows
    for path in folder.glob("*.parquet"):
        if path.name != name:
            path.unlink()
            report.files_removed += 1


def _write(conn: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    partial = path.with_name("." + path.name)
    conn.execute(f"copy ({sql}) to '{partial}' (format parquet, compression zstd)")
    partial.replace(path)
