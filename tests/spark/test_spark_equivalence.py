"""The same dbt project on DuckDB and on a local Spark: equal marts, row for row (docs/scale_out.md).

One landing zone (a small simulator dataset plus the hard cases of hard_cases.py) goes through the
life of a warehouse twice, once per engine, each in its own COACHWH_HOME:

1. first delivery (files dated before 2026-10-05) ingested; the seeds and models the close reads,
   and the usage-log snapshot's first versions, as of 2026-10-05;
2. the close of September as of 2026-10-05 (billing/close.py: figures from the engine that built
   the marts, ledger in DuckDB, published to the lake for Spark);
3. second delivery (late events of closed September among them) ingested; `dbt build` of every
   model, snapshot, seed, unit test and data test, as of 2026-11-02.

Spark reads the raw and billing tables as the Parquet the ingestion and the close publish. dbt runs
in this process on both engines (Spark through pyspark's session), DuckDB under a UTC-03:00 zone
and Spark under a +08:00 session zone, so that nothing depends on a session's time zone.
Then usage_logs, usage_analytics, billing_statements, billing_adjustments (and usage_log_revisions,
from the snapshot) must be equal: same
columns, same types (DuckDB's contract types as Spark spells them), same rows, money to the last
decimal (compared as text: 0.000033 is not 0.0000330).
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.billing.close import close_through
from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.ingestion.loader import ingest_landing
from dagster_project.simulator import generate
from dagster_project.simulator.delivery import deliver
from dagster_project.warehouse import connection
from tests.spark.hard_cases import THREE_SECONDS_OF_ASSEMBLYAI_USD, write_hard_cases

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark", reason="the spark extra is not installed (uv sync --extra spark)")
pytest.importorskip("dbt.adapters.spark", reason="the spark extra is not installed (uv sync --extra spark)")

SECOND_DELIVERY_FROM = date(2026, 10, 5)
FIRST_AS_OF = "2026-10-05T00:00:00+00:00"
SECOND_AS_OF = "2026-11-02T00:00:00+00:00"
SEPTEMBER = date(2026, 9, 1)

# mart -> columns that say when a row was computed or closed, not what it holds: they differ
# between any two builds, on one engine too.
MARTS = {
    "usage_logs": {"computed_at"},
    "usage_analytics": {"computed_at"},
    "billing_statements": {"closed_at"},
    "billing_adjustments": set(),
    # From the snapshot (macros/spark_snapshot.sql on Parquet): versions are timestamped with the
    # log's computed_at, and revision_id hashes that time.
    "usage_log_revisions": {"revision_id", "revised_at"},
}
# DuckDB's type names (the contracts) as Spark spells them.
SPARK_TYPES = {"VARCHAR": "string", "TIMESTAMP WITH TIME ZONE": "timestamp", "INTEGER": "int", "BIGINT": "bigint",
               "BOOLEAN": "boolean", "DATE": "date"}
HOME_VARIABLES = ("COACHWH_LANDING_DIR", "COACHWH_DUCKDB_PATH", "COACHWH_VAULT_PATH", "COACHWH_LAKE_DIR",
                  "DAGSTER_HOME", "COACHWH_DBT_TARGET", "COACHWH_LAKE_EXPORT")


def _dbt(work: Path, target: str, *args: str) -> None:
    """One in-process dbt invocation; fails the test with every failed node's message."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke([
        *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target", target,
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet",
    ])
    # dbt-duckdb keeps the file open in this process; close it so Python can open it again.
    environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()
    if not result.success:
        failed = [f"{r.node.unique_id}: {r.status}: {r.message}" for r in getattr(result.result, "results", []) or []
                  if str(r.status) in {"error", "fail", "runtime error"}]
        pytest.fail(f"dbt {args[0]} on {target} failed: {result.exception or ''}\n" + "\n".join(failed))


def _build_engine(engine: str, base: Path, generated: Path, timings: dict[str, float]) -> Settings:
    """The life of one warehouse on `engine`: deliver, ingest, build, close, deliver late data, build."""
    for variable in HOME_VARIABLES:
        os.environ.pop(variable, None)
    os.environ["COACHWH_HOME"] = str(base / engine)
    os.environ["COACHWH_DBT_TARGET"] = engine
    settings = Settings.from_env()
    settings.export()
    work = base / f"{engine}-dbt"
    started = time.monotonic()

    deliver(generated, settings.landing_dir, before=SECOND_DELIVERY_FROM)
    with connection(settings) as conn:
        ingest_landing(settings, conn)
    # The snapshot too: the second build then records the late failure's reclassification of hc_a1
    # as a new version (the swap-table snapshot on Spark's Parquet, macros/spark_snapshot.sql).
    _dbt(work, engine, "build", "--select", "+billing_statements", "+billing_adjustments", "+usage_logs_snapshot",
         "--resource-type", "seed", "--resource-type", "model", "--resource-type", "snapshot",
         "--vars", json.dumps({"as_of": FIRST_AS_OF}))
    with connection(settings) as conn:
        closed = close_through(conn, SEPTEMBER, datetime.fromisoformat(FIRST_AS_OF), settings.grace_days, "test")
    assert [c.billing_month for c in closed if c.newly_closed] == [SEPTEMBER]

    deliver(generated, settings.landing_dir, since=SECOND_DELIVERY_FROM)
    with connection(settings) as conn:
        ingest_landing(settings, conn)
    _dbt(work, engine, "build", "--vars", json.dumps({"as_of": SECOND_AS_OF}))
    timings[engine] = round(time.monotonic() - started, 1)
    return settings


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("spark_equivalence")
    saved = dict(os.environ)
    os.environ.update({
        "COACHWH_DUCKDB_MEMORY_LIMIT": "1GB", "COACHWH_DUCKDB_THREADS": "2",
        "TZ": "America/Sao_Paulo",  # DuckDB's session zone under dbt: UTC-03:00
        "COACHWH_SPARK_TIMEZONE": "Asia/Singapore",  # Spark's session zone: +08:00
        "COACHWH_SPARK_DIR": str(base / "spark"),
    })
    generated = base / "generated"
    generate(generated, seed=5, coaches=8, months=2, events_per_month=600, start_month="2026-09")
    write_hard_cases(generated)
    timings: dict[str, float] = {}
    try:
        built = {engine: _build_engine(engine, base, generated, timings) for engine in ("duckdb", "spark")}
        print(f"\nseconds per engine (ingest, run, close, ingest, build): {timings}")
        yield built
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _spark():
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()  # the session dbt started in this process


def _duckdb_table(settings: Settings, mart: str, skip: set[str]) -> tuple[list[tuple[str, str]], list[tuple]]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        columns = [(name, kind) for name, kind, *_ in conn.execute(f"describe marts.{mart}").fetchall()]
        select = ", ".join(f"epoch_us({n})" if k == "TIMESTAMP WITH TIME ZONE" else n
                           for n, k in columns if n not in skip)
        return columns, conn.execute(f"select {select} from marts.{mart}").fetchall()


def _spark_table(mart: str, skip: set[str]) -> tuple[list[tuple[str, str]], list[tuple]]:
    spark = _spark()
    columns = [(f.name, f.dataType.simpleString()) for f in spark.table(f"marts.{mart}").schema.fields]
    select = ", ".join(f"unix_micros({n})" if k == "timestamp" else n for n, k in columns if n not in skip)
    return columns, [tuple(row) for row in spark.sql(f"select {select} from marts.{mart}").collect()]


def _canonical(rows: list[tuple]) -> list[tuple]:
    """Rows as text (a Decimal keeps its scale: '0.000033'), in one order."""
    return sorted(tuple("<null>" if v is None else str(v) for v in row) for row in rows)


@pytest.mark.parametrize("mart", list(MARTS))
def test_marts_are_equal_row_for_row_on_duckdb_and_spark(engines, mart):
    skip = MARTS[mart]
    duck_columns, duck_rows = _duckdb_table(engines["duckdb"], mart, skip)
    spark_columns, spark_rows = _spark_table(mart, skip)
    assert [n for n, _ in spark_columns] == [n for n, _ in duck_columns]
    expected_types = [SPARK_TYPES.get(k, k.lower().replace(" ", "")) for _, k in duck_columns]
    assert [k for _, k in spark_columns] == expected_types
    assert len(duck_rows) > 0
    duck, spark = _canonical(duck_rows), _canonical(spark_rows)
    only_duckdb = [r for r in duck if r not in set(spark)]
    only_spark = [r for r in spark if r not in set(duck)]
    assert (only_duckdb, only_spark) == ([], []), f"{mart}: {len(duck)} rows on DuckDB, {len(spark)} on Spark"
    assert duck == spark


def test_both_engines_closed_september_with_the_same_statements(engines):
    ledgers = {}
    for engine, settings in engines.items():
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
            ledgers[engine] = conn.execute(
                "select billing_month, statements, month_digest from billing.closed_months order by 1").fetchall()
    assert ledgers["duckdb"] == ledgers["spark"]
    assert [row[0] for row in ledgers["spark"]] == [SEPTEMBER]
    assert ledgers["spark"][0][1] > 0


def test_the_hard_cases_come_out_the_same_and_right_on_both_engines(engines):
    logs = {
        "duckdb": duckdb.connect(str(engines["duckdb"].duckdb_path), read_only=True).execute(
            "select attempt_id, transcription_type, cost_usd, usage_month from marts.usage_logs "
            "where user_id like 'hc_%'").fetchall(),
        "spark": [tuple(r) for r in _spark().sql(
            "select attempt_id, transcription_type, cost_usd, usage_month from marts.usage_logs "
            "where user_id like 'hc_%'").collect()],
    }
    for engine, rows in logs.items():
        by_attempt = {attempt: (kind, cost, month) for attempt, kind, cost, month in rows}
        three_seconds = Decimal(THREE_SECONDS_OF_ASSEMBLYAI_USD)
        assert by_attempt["hc_a7"] == ("original", three_seconds, SEPTEMBER), engine  # half-up, late
        assert by_attempt["hc_a1"][:2] == ("retry_failed", Decimal("0.000000")), engine  # reclassified: free
        assert by_attempt["hc_a3"][0] == "retry_failed" and by_attempt["hc_a4"][0] == "retry_success", engine
        assert by_attempt["hc_a5"][2] == SEPTEMBER, engine  # 07:59:59.999+08:00 on Oct 1 is September
        assert by_attempt["hc_a6"][2] == date(2026, 10, 1), engine  # 08:00:00+08:00 on Oct 1 is October
        assert by_attempt["hc_a8"][0] == "retry_success", engine

    adjustments = {
        "duckdb": duckdb.connect(str(engines["duckdb"].duckdb_path), read_only=True).execute(
            "select usage_log_id, reason, original_month, applied_month, delta_usage_charges_usd "
            "from marts.billing_adjustments where user_id = 'hc_user_a'").fetchall(),
        "spark": [tuple(r) for r in _spark().sql(
            "select usage_log_id, reason, original_month, applied_month, delta_usage_charges_usd "
            "from marts.billing_adjustments where user_id = 'hc_user_a'").collect()],
    }
    for engine, rows in adjustments.items():
        assert sorted((reason, str(delta), original, applied) for _, reason, original, applied, delta in rows) == [
            ("late_usage", THREE_SECONDS_OF_ASSEMBLYAI_USD, SEPTEMBER, date(2026, 10, 1)),
            ("reclassified", "-" + THREE_SECONDS_OF_ASSEMBLYAI_USD, SEPTEMBER, date(2026, 10, 1)),
        ], engine

    plans = {
        "duckdb": duckdb.connect(str(engines["duckdb"].duckdb_path), read_only=True).execute(
            "select plan, is_closed from marts.billing_statements "
            "where user_id = 'hc_user_b' and billing_month = '2026-09-01'").fetchall(),
        "spark": [tuple(r) for r in _spark().sql(
            "select plan, is_closed from marts.billing_statements "
            "where user_id = 'hc_user_b' and billing_month = date'2026-09-01'").collect()],
    }
    assert plans["duckdb"] == plans["spark"] == [("student", True)]  # plan change at 23:59:59Z
