"""Scanning the warehouse for PII outside the vault (spec §4.2), for the governance checks.

Two scans: by name (a column of any table or view that a data contract classifies pii or sensitive)
and by value (a value of the vault found in a text column of a warehouse table). Exact matches are
looked for in every VARCHAR column; substrings too in JSON and free-text columns of tables small
enough for a nested-loop search (quarantine text, extra fields, audit values).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dagster_project.contracts import load_contracts
from dagster_project.ingestion.validation import q

# Values shorter than this are too common to mean anything ("US", "n/a").
MIN_VALUE_LENGTH = 5
# Tables up to this many rows also get a substring search of their JSON and free-text columns.
SUBSTRING_SCAN_MAX_ROWS = 500_000
FREE_TEXT_COLUMNS = frozenset({"raw_text", "reason", "last_error", "detail", "description"})
SKIPPED_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


@dataclass(frozen=True)
class PiiFinding:
    table: str
    column: str
    kind: str  # protected_column | vault_value
    rows: int


def protected_column_names() -> frozenset[str]:
    return frozenset(f.name for c in load_contracts().values() for f in c.protected_fields)


def _warehouse_columns(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str, str]]:
    database = conn.execute("select current_database()").fetchall()[0][0]
    return conn.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type, t.table_type
        from information_schema.columns as c
        join information_schema.tables as t using (table_catalog, table_schema, table_name)
        where c.table_catalog = ?
        order by 1, 2, c.ordinal_position
        """,
        [database],
    ).fetchall()


def scan_for_pii(conn: duckdb.DuckDBPyConnection) -> list[PiiFinding]:
    """Every place outside the vault where PII shows up; empty when the warehouse is clean."""
    findings: list[PiiFinding] = []
    protected = protected_column_names()
    columns = [c for c in _warehouse_columns(conn) if c[0] not in SKIPPED_SCHEMAS]
    for schema, table, column, _, _ in columns:
        if column in protected:
            findings.append(PiiFinding(f"{schema}.{table}", column, "protected_column", 0))
    conn.execute(
        "create or replace temp table _vault_values as "
        "select distinct value from vault.pii where length(value) >= ?",
        [MIN_VALUE_LENGTH],
    )
    if not conn.execute("select count(*) from _vault_values").fetchall()[0][0]:
        return findings
    for schema, table, column, data_type, table_type in columns:
        if table_type != "BASE TABLE" or data_type not in {"VARCHAR", "JSON"}:
            continue
        name = f"{q(schema)}.{q(table)}"
        col = q(column)
        hits = conn.execute(
            f"select count(*) from {name} where {col}::varchar in (select value from _vault_values)"
        ).fetchall()[0][0]
        if not hits and (data_type == "JSON" or column in FREE_TEXT_COLUMNS):
            size = conn.execute(f"select count(*) from {name}").fetchall()[0][0]
            if size <= SUBSTRING_SCAN_MAX_ROWS:
                hits = conn.execute(
                    f"select count(distinct t.rowid) from {name} as t join _vault_values as v "
                    f"on contains(t.{col}::varchar, v.value)"
                ).fetchall()[0][0]
        if hits:
            findings.append(PiiFinding(f"{schema}.{table}", column, "vault_value", int(hits)))
    return findings
