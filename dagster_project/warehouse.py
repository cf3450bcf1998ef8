"""Opening the DuckDB file and laying out the tables that ingestion owns.

DuckDB allows one writer per file, and even a read-only open fails while a writer holds it: every
open goes through `connect`, which turns the lock error into one line that says what to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from dagster_project.audit.platform_checksum import PLATFORM_CHECKS_DDL
from dagster_project.audit.trail import ensure_audit_table
from dagster_project.config import Settings
from dagster_project.contracts import Contract, load_contracts
from dagster_project.errors import CoachwhError
from dagster_project.governance.tables import ensure_governance_tables

LOCK_WAIT_SECONDS = 30.0

# Columns every raw table carries besides its contract's non-PII fields.
RAW_METADATA_COLUMNS = {
    "_batch_id": "BIGINT NOT NULL",
    "_source_file": "VARCHAR NOT NULL",
    "_line_number": "BIGINT",
    "_record_hash": "UHUGEINT NOT NULL",
    "_extra_fields": "JSON",
    "_ingested_at": "TIMESTAMPTZ NOT NULL",
}


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def open_connection(settings: Settings, read_only: bool = False, wait_seconds: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to `wait_seconds` for another process's write lock."""
    if read_only and not settings.duckdb_path.exists():
        raise CoachwhError(
            f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run` or `coachwh demo`"
        )
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    # Nothing reads rows back in insertion order (files and lines are explicit columns), and not
    # keeping it lets DuckDB stream large inserts within its memory limit.
    config = {"memory_limit": settings.memory_limit, "threads": str(settings.threads),
              "preserve_insertion_order": "false"}
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            conn = duckdb.connect(str(settings.duckdb_path), read_only=read_only, config=config)
            # Timestamps are stored and shown in UTC whatever the machine's time zone is.
            conn.execute("set TimeZone = 'UTC'")
            _attach_vault(conn, settings, read_only)
            return conn
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise CoachwhError(
                    f"the warehouse {settings.duckdb_path} is locked by another process "
                    f"(a running `coachwh run`, Dagster run or SQL client); wait for it to finish "
                    f"or close it, then retry"
                ) from exc
            time.sleep(0.5)


def _attach_vault(conn: duckdb.DuckDBPyConnection, settings: Settings, read_only: bool) -> None:
    """Attach the PII vault (its own DuckDB file) as catalog `vault`, so `vault.pii` names its table."""
    if read_only and not settings.vault_path.exists():
        return
    settings.vault_path.parent.mkdir(parents=True, exist_ok=True)
    mode = " (read_only)" if read_only else ""
    try:
        conn.execute(f"attach if not exists '{settings.vault_path}' as vault{mode}")
    except duckdb.Error as exc:
        conn.close()
        if _is_lock_error(exc):
            raise CoachwhError(
                f"the PII vault {settings.vault_path} is locked by another process; wait for it to finish, then retry"
            ) from exc
        raise


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back (and re-raised) on any exception.

    DuckDB commits one database file per transaction: a block writes the warehouse or the vault.
    """
    conn.execute("begin transaction")
    try:
        yield
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


@contextmanager
def connection(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = open_connection(settings, read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()


def raw_table_ddl(contract: Contract) -> str:
    columns = [f"{f.name} {f.physical_type}" for f in contract.raw_fields]
    columns += [f"{f.name}_raw_text VARCHAR" for f in contract.raw_fields if f.keep_raw_text]
    columns += [f"{name} {kind}" for name, kind in RAW_METADATA_COLUMNS.items()]
    return f"create table if not exists raw.{contract.stream} (\n  " + ",\n  ".join(columns) + "\n)"


INFRA_DDL = (
    "create schema if not exists raw",
    "create sequence if not exists raw.batch_id_seq start 1",
    """create table if not exists raw.ingested_files (
        batch_id BIGINT NOT NULL,
        stream VARCHAR NOT NULL,
        file_path VARCHAR NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        file_format VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        mtime_ns BIGINT NOT NULL,
        status VARCHAR NOT NULL,
        reject_reason VARCHAR,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_duplicate BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        extra_field_rows BIGINT NOT NULL,
        contract_version VARCHAR NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL
    )""",
    # Landing files of PII streams rewritten without PII after loading (ingestion/redaction.py):
    # discovery treats their new identity as already loaded.
    """create table if not exists raw.redacted_files (
        file_path VARCHAR NOT NULL,
        original_sha256 VARCHAR NOT NULL,
        redacted_sha256 VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        mtime_ns BIGINT NOT NULL,
        values_redacted BIGINT NOT NULL,
        redacted_at TIMESTAMPTZ NOT NULL
    )""",
    """create table if not exists raw.quarantine (
        quarantine_id VARCHAR NOT NULL,
        batch_id BIGINT NOT NULL,
        stream VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        line_number BIGINT,
        reason VARCHAR NOT NULL,
        raw_text VARCHAR,
        quarantined_at TIMESTAMPTZ NOT NULL
    )""",
    "create schema if not exists billing",
    # The closed-months ledger and what each close froze: written only by the close operation,
    # append-only, in one transaction per month (see docs/billing.md).
    """create table if not exists billing.closed_months (
        billing_month DATE NOT NULL,
        closed_at TIMESTAMPTZ NOT NULL,
        as_of TIMESTAMPTZ NOT NULL,
        grace_days INTEGER NOT NULL,
        statements BIGINT NOT NULL,
        month_digest VARCHAR NOT NULL,
        run_id VARCHAR,
        actor VARCHAR NOT NULL
    )""",
    """create table if not exists billing.closed_statements (
        user_id VARCHAR NOT NULL,
        billing_month DATE NOT NULL,
        plan VARCHAR NOT NULL,
        subscription_fee_usd DECIMAL(18,2) NOT NULL,
        included_minutes INTEGER,
        billable_seconds DECIMAL(18,3) NOT NULL,
        billable_minutes BIGINT NOT NULL,
        minutes_over_quota BIGINT NOT NULL,
        usage_charges_usd DECIMAL(18,6) NOT NULL,
        adjustments_usd DECIMAL(18,6) NOT NULL,
        total_usd DECIMAL(18,6) NOT NULL,
        usage_log_count BIGINT NOT NULL,
        statement_digest VARCHAR NOT NULL,
        closed_at TIMESTAMPTZ NOT NULL
    )""",
    """create table if not exists billing.closed_log_charges (
        usage_log_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        billing_month DATE NOT NULL,
        transcription_type VARCHAR NOT NULL,
        billable_seconds DECIMAL(18,3) NOT NULL,
        cost_usd DECIMAL(18,6) NOT NULL,
        closed_at TIMESTAMPTZ NOT NULL
    )""",
    """create table if not exists billing.closed_adjustments (
        adjustment_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        usage_log_id VARCHAR NOT NULL,
        original_month DATE NOT NULL,
        applied_month DATE NOT NULL,
        reason VARCHAR NOT NULL,
        delta_billable_seconds DECIMAL(18,3) NOT NULL,
        delta_usage_charges_usd DECIMAL(18,6) NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        closed_at TIMESTAMPTZ NOT NULL
    )""",
)


# The vault's tables: the only place plaintext PII is kept (spec §4.2), each row keyed by subject.
VAULT_DDL = (
    """create table if not exists vault.pii (
        subject_type VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        classification VARCHAR NOT NULL,
        source_stream VARCHAR NOT NULL,
        source_record_id VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ,
        batch_id BIGINT NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL
    )""",
    # Quarantined lines of streams that carry PII: their raw text may hold PII, so it is kept here,
    # not in raw.quarantine (which says where it went).
    """create table if not exists vault.quarantine_text (
        quarantine_id VARCHAR NOT NULL,
        stream VARCHAR NOT NULL,
        raw_text VARCHAR NOT NULL,
        quarantined_at TIMESTAMPTZ NOT NULL
    )""",
    # Unknown extra fields of streams that carry PII: unclassified, so treated as PII.
    """create table if not exists vault.extra_fields (
        subject_type VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        source_stream VARCHAR NOT NULL,
        source_record_id VARCHAR NOT NULL,
        extra_json VARCHAR NOT NULL,
        batch_id BIGINT NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL
    )""",
)


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str, catalog: str | None = None) -> bool:
    """Whether `schema.table` exists in the warehouse file (or in attached `catalog`, e.g. "vault")."""
    where = "table_catalog = ?" if catalog else "table_catalog = current_database()"
    found = conn.execute(
        f"select count(*) from information_schema.tables where {where} and table_schema = ? and table_name = ?",
        [*([catalog] if catalog else []), schema, table],
    ).fetchall()
    return found[0][0] > 0


def _migrate_in_file_vault(conn: duckdb.DuckDBPyConnection) -> None:
    """Move a vault schema kept inside the warehouse file (before the vault had its own file)."""
    database = conn.execute("select current_database()").fetchall()[0][0]
    if table_exists(conn, "vault", "pii", catalog=database):
        conn.execute(f'insert into vault.main.pii select * from "{database}".vault.pii')
        conn.execute(f'drop schema "{database}".vault cascade')


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the ingestion-owned schemas and tables if they are missing (idempotent)."""
    for ddl in INFRA_DDL:
        conn.execute(ddl)
    # A bare connection (dbt's, or a test's) has no vault attached: it gets the warehouse's tables only.
    if conn.execute("select count(*) from duckdb_databases() where database_name = 'vault'").fetchall()[0][0]:
        for ddl in VAULT_DDL:
            conn.execute(ddl.replace("vault.", "vault.main.", 1))
        _migrate_in_file_vault(conn)
    ensure_audit_table(conn)
    conn.execute(PLATFORM_CHECKS_DDL)
    ensure_governance_tables(conn)
    for contract in load_contracts().values():
        conn.execute(raw_table_ddl(contract))
