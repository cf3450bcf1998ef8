"""Scanning the warehouse for PII outside the vault (spec §4.2), for the governance checks.

Two scans: by name (a column of any table or view, in any schema, that a data contract classifies
pii or sensitive) and by value (a value of the vault found in a text column of a table written
outside dbt: raw, governance, audit, billing). dbt cannot read the vault (its connection does not
attach it), so every table dbt builds derives from those tables and the seeds: a value that is not
in them cannot be in a mart, and scanning the marts again would double the cost at no gain. Exact
matches are looked for in every VARCHAR column except those a contract limits to an enum, and in
every string inside JSON columns; substrings too in free-text columns (quarantine text, reasons,
details) while a nested-loop search stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dagster_project.contracts import load_contracts
from dagster_project.ingestion.validation import q

# Values shorter than this are too common to mean anything ("US", "n/a").
MIN_VALUE_LENGTH = 5
# Free-text columns also get a substring search while rows x vault values stays under this.
SUBSTRING_SCAN_MAX_COMPARISONS = 50_000_000
FREE_TEXT_COLUMNS = frozenset({"raw_text", "reason", "last_error", "detail", "description"})
SKIPPED_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
# The schemas written outside dbt, where a vault value could first appear.
VALUE_SCAN_SCHEMAS = frozenset({"raw", "governance", "audit", "billing"})


@dataclass(frozen=True)
class PiiFinding:
    table: str
    column: str
    kind: str  # protected_column | vault_value
    rows: int


def protected_column_names() -> frozenset[str]:
    return frozenset(f.name for c in load_contracts().values() for f in c.protected_fields)


def _enum_columns() -> frozenset[tuple[str, str]]:
    """(raw table, column) pairs whose values the contract limits to an enum: no PII can pass."""
    return frozenset((c.stream, f.name) for c in load_contracts().values() for f in c.raw_fields if f.enum)


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
    values = conn.execute("select count(*) from _vault_values").fetchall()[0][0]
    if not values:
        return findings
    enums = _enum_columns()
    for schema, table, column, data_type, table_type in columns:
        if table_type != "BASE TABLE" or data_type not in {"VARCHAR", "JSON"} or schema not in VALUE_SCAN_SCHEMAS:
            continue
        if schema == "raw" and (table, column) in enums:
            continue
        name = f"{q(schema)}.{q(table)}"
        col = q(column)
        hits = conn.execute(
            f"select count(*) from {name} where {col}::varchar in (select value from _vault_values)"
        ).fetchall()[0][0]
        if not hits and data_type == "JSON":
            # Every string inside the JSON value, at any depth, matched exactly.
            hits = conn.execute(
                f"select count(distinct t.rowid) from {name} as t, json_tree(t.{col}) as leaf "
                f"where leaf.type = 'VARCHAR' and leaf.value ->> '$' in (select value from _vault_values)"
            ).fetchall()[0][0]
        if not hits and column in FREE_TEXT_COLUMNS:
            # A value inside free text: a nested loop, so only where rows x values stays small.
            size = conn.execute(f"select count(*) from {name} where {col} is not null").fetchall()[0][0]
            if size * values <= SUBSTRING_SCAN_MAX_COMPARISONS:
                hits = conn.execute(
                    f"select count(distinct t.rowid) from {name} as t join _vault_values as v "
                    f"on contains(t.{col}::varchar, v.value)"
                ).fetchall()[0][0]
        if hits:
            findings.append(PiiFinding(f"{schema}.{table}", column, "vault_value", int(hits)))
    return findings
