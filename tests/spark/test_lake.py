"""The lake (dagster_project/lake.py): what is published as Parquet, when, and how it follows deletes.

No Spark here: these read the files back with DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project import lake
from dagster_project.warehouse import ensure_schema
from tests.dbt.test_usage_models import event, insert_raw


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.parquet"))


def _events(batch: int, *attempts: str) -> list[dict]:
    return [event(f"{a}_done", "completed", "2026-09-01T10:00:00+08:00", a, f"s_{a}", "u1", None, "google", 60)
            for a in attempts]


def test_the_lake_is_published_only_for_a_spark_target_or_on_request(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COACHWH_LAKE_EXPORT", raising=False)
    monkeypatch.delenv("COACHWH_DBT_TARGET", raising=False)
    assert not lake.enabled()
    monkeypatch.setenv("COACHWH_DBT_TARGET", "spark_thrift")
    assert lake.enabled()
    monkeypatch.setenv("COACHWH_DBT_TARGET", "duckdb")
    monkeypatch.setenv("COACHWH_LAKE_EXPORT", "1")
    assert lake.enabled()


def test_sync_writes_each_batch_once_and_follows_deleted_rows(settings, conn: duckdb.DuckDBPyConnection):
    ensure_schema(conn)
    insert_raw(conn, "transcription_events", 1, _events(1, "a1", "a2"))
    insert_raw(conn, "transcription_events", 2, _events(2, "a3"))
    first = lake.sync(conn, settings)
    folder = lake.lake_dir(settings) / "raw" / "transcription_events"
    names = _files(folder)
    assert [n.split("-rows-")[0] for n in names] == ["batch-000000001", "batch-000000002"]
    assert first.rows_written >= 3

    # Nothing new: nothing written.
    assert lake.sync(conn, settings).files_written == 0

    # Retention deletes rows of batch 1: its file is rewritten, batch 2's is kept as it was.
    conn.execute("delete from raw.transcription_events where attempt_id = 'a1'")
    report = lake.sync(conn, settings)
    assert (report.files_written, report.files_removed) == (1, 1)
    assert names[1] in _files(folder)
    rows = duckdb.sql(f"select attempt_id, duration_seconds, occurred_at from read_parquet('{folder}/*.parquet') "
                      "order by 1").fetchall()
    assert [(a, str(d)) for a, d, _ in rows] == [("a2", "60.000"), ("a3", "60.000")]
    assert str(rows[0][2]) == "2026-09-01 02:00:00+00:00"  # an instant, UTC-adjusted


def test_an_empty_table_still_has_its_columns_and_quarantined_text_never_reaches_the_lake(
    settings, conn: duckdb.DuckDBPyConnection
):
    ensure_schema(conn)
    conn.execute("insert into raw.quarantine values ('q1', 1, 'users', 'users/x.jsonl', 3, 'bad_json', "
                 "'{\"email\": \"someone@example.com\"', now())")
    lake.sync(conn, settings)
    quarantine = lake.lake_dir(settings) / "raw" / "quarantine"
    columns = [name for name, *_ in duckdb.sql(f"describe select * from read_parquet('{quarantine}/*.parquet')").fetchall()]
    assert "raw_text" not in columns and "reason" in columns
    closed = lake.lake_dir(settings) / "billing" / "closed_months"
    assert duckdb.sql(f"select count(*) from read_parquet('{closed}/*.parquet')").fetchall() == [(0,)]
    assert not list(lake.lake_dir(settings).rglob(".*.parquet"))  # no partial file left behind
