"""Checks that prove ingestion lost nothing and kept PII out of the raw tables."""


import dagster as dg

from dagster_project.contracts import load_contracts
from dagster_project.defs.ingestion.assets import LEDGER_KEY, QUARANTINE_KEY, RAW_STREAM_KEYS
from dagster_project.ingestion.validation import q
from dagster_project.resources import WarehouseResource


@dg.asset_check(asset=LEDGER_KEY, blocking=True, description=(
    "For every file: read = loaded + duplicates + quarantined; the raw and quarantine tables hold "
    "exactly the rows the ledger says were loaded (less those retention purged, recorded per file) and "
    "quarantined; every rejected file has its quarantine row. Severity ERROR: a failure means data was lost."
))
def every_file_reconciles(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    loaded_union = " union all ".join(
        f"select _source_file as file_path, count(*) as n from raw.{q(s)} group by all"
        for s in load_contracts()
    )
    with warehouse.connect() as conn:
        rows = conn.execute(
            f"""
            with present as ({loaded_union}
                             union all
                             select source_file, sum(rows_purged) from governance.retention_purged_rows group by all),
                 loaded as (select file_path, sum(n) as n from present group by all),
                 quarantined as (
                     select file as file_path, count(*) filter (where line_number is not null) as n_rows,
                            count(*) filter (where line_number is null) as n_files
                     from raw.quarantine group by all),
                 ledger as (
                     select file_path, sum(rows_read) as rows_read, sum(rows_loaded) as rows_loaded,
                            sum(rows_duplicate) as rows_duplicate, sum(rows_quarantined) as rows_quarantined,
                            count(*) filter (where status = 'rejected') as rejected
                     from raw.ingested_files group by all)
            select l.file_path, l.rows_read, l.rows_loaded, l.rows_duplicate, l.rows_quarantined,
                   coalesce(ld.n, 0) as in_raw, coalesce(qu.n_rows, 0) as in_quarantine,
                   l.rejected, coalesce(qu.n_files, 0) as file_quarantine_rows
            from ledger as l
            left join loaded as ld using (file_path)
            left join quarantined as qu using (file_path)
            where l.rows_read <> l.rows_loaded + l.rows_duplicate + l.rows_quarantined
               or coalesce(ld.n, 0) <> l.rows_loaded
               or coalesce(qu.n_rows, 0) <> l.rows_quarantined
               or coalesce(qu.n_files, 0) <> l.rejected
            order by l.file_path
            """
        ).fetchall()
        files = conn.execute("select count(*), coalesce(sum(rows_read), 0) from raw.ingested_files").fetchall()[0]
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files_checked": files[0],
            "rows_read": int(files[1]),
            "files_not_reconciling": len(rows),
            "first_offenders": dg.MetadataValue.text(repr(rows[:5])),
        },
    )


@dg.asset_check(asset=QUARANTINE_KEY, description=(
    "Warns while records sit in quarantine; lists them by reason. Quarantine is expected for bad "
    "input, so this never blocks a run."
))
def quarantine_is_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select split_part(reason, ':', 1) as kind, count(*) from raw.quarantine group by all order by 2 desc"
        ).fetchall()
    total = sum(n for _, n in rows)
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": total, "by_reason": dg.MetadataValue.json({k: n for k, n in rows})},
    )


@dg.asset_check(asset=RAW_STREAM_KEYS["users"], blocking=True, description=(
    "No raw table has a column that its contract classifies as pii or sensitive: PII lives in the vault only."
))
def no_pii_columns_in_raw(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    protected = {(c.stream, f.name) for c in load_contracts().values() for f in c.protected_fields}
    with warehouse.connect() as conn:
        columns = set(
            conn.execute(
                "select table_name, column_name from information_schema.columns where table_schema = 'raw'"
            ).fetchall()
        )
    leaks = sorted(protected & columns)
    return dg.AssetCheckResult(
        passed=not leaks,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"leaking_columns": dg.MetadataValue.text(repr(leaks))},
    )
