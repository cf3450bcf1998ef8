"""Where a billing close reads the figures it freezes: the engine that built the marts.

The close itself (billing/close.py) always runs in DuckDB: the ledger (schema `billing`) is written
there in one transaction per month, as on the default target. What it copies into the ledger are
the open statements, the per-log charges and the pending adjustments as the dbt build computed
them:

- DuckDB target: straight from marts.billing_statements, intermediate.int_billing_log_charges and
  marts.billing_adjustments in the same file;
- Spark targets: the ledger is first published to the lake (so Spark sees every month closed so
  far), then dbt macro `export_billing_figures` has Spark write those three relations' open rows as
  Parquet under `<lake>/_exchange/billing_figures/`, which DuckDB reads exactly (decimals and
  instants keep their types). Re-exported before each month a close covers, like DuckDB's views
  are re-read.

docs/scale_out.md, "The billing close on Spark".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project import lake
from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.errors import CoachwhError


@dataclass(frozen=True)
class Figures:
    """Table expressions (for a DuckDB FROM clause) of the three relations a close reads."""

    statements: str
    log_charges: str
    adjustments: str


DUCKDB_FIGURES = Figures(
    statements="marts.billing_statements",
    log_charges="intermediate.int_billing_log_charges",
    adjustments="marts.billing_adjustments",
)


def exchange_dir(settings: Settings) -> Path:
    return lake.lake_dir(settings) / "_exchange" / "billing_figures"


def current_figures(conn: duckdb.DuckDBPyConnection) -> Figures:
    """The figures of the engine dbt builds on, as of now (for Spark: exported now)."""
    if not lake.is_spark_target():
        return DUCKDB_FIGURES
    settings = Settings.from_env()
    lake.sync(conn, settings)  # the ledger as it is now: months closed earlier in this close too
    _export_from_spark(settings)
    folder = exchange_dir(settings)
    return Figures(*(f"read_parquet('{folder / name}/*.parquet')"
                     for name in ("billing_statements", "int_billing_log_charges", "billing_adjustments")))


def _export_from_spark(settings: Settings) -> None:
    from dbt.cli.main import dbtRunner

    from dagster_project.dbt_project import dbt_target

    settings.export()
    result = dbtRunner().invoke([
        "run-operation", "export_billing_figures",
        "--args", json.dumps({"folder": str(exchange_dir(settings))}),
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", dbt_target(), "--quiet",
        # not dbt/target: the Dagster definitions read the manifest there
        "--target-path", str(lake.spark_dir(settings) / "dbt-target"),
        "--log-path", str(lake.spark_dir(settings) / "dbt-logs"),
    ])
    if not result.success:
        raise CoachwhError(
            f"Spark could not export the billing figures for the close ({result.exception}); "
            "run `dbt run-operation export_billing_figures` in dbt/ to see why"
        )
