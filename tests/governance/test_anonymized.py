"""Schema `anonymized`: keyed pseudonyms for every id, no PII, k-anonymous aggregates (spec §4.3).

The marts are small tables made by hand (no dbt): what is tested is the pseudonym map, the views'
SQL and the suppression, over whatever columns the marts have.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.config import Settings
from dagster_project.defs.governance.anonymized import ANONYMIZED_VIEWS_KEY, anonymized_views
from dagster_project.errors import CoachwhError
from dagster_project.governance.anonymized import ID_COLUMNS, build_anonymized
from dagster_project.governance.pseudonyms import KEY_FILE_NAME, pseudonym
from dagster_project.governance.tables import ensure_governance_tables
from dagster_project.resources import WarehouseResource

KEY = "test-secret-0f3c9a7e-pseudonym-key"
OTHER_KEY = "another-secret-5b1d2e44"

# Six pro users on google/en-US in January (a group of 6), two free users on assemblyai/de-DE (a group of 2).
PRO_USERS = [f"usr_{n:04d}" for n in range(1, 7)]
FREE_USERS = ["usr_0007", "usr_0008"]
USERS = PRO_USERS + FREE_USERS


def _logs() -> list[tuple]:
    rows = []
    for n, user in enumerate(USERS, start=1):
        pro = user in PRO_USERS
        provider, language, plan = ("google", "en-US", "pro") if pro else ("assemblyai", "de-DE", "free")
        rows.append((f"ulog_{n:04d}a", f"att_{n:04d}a", f"ses_{n:04d}", user, f"cli_{n:04d}", provider, language,
                     "original", True, None, 90, 0.009, plan, "2026-01-10 10:00:00+00", "2026-01-01", 1, 1))
        # A paid re-transcription of the same session, pointing at its parent log.
        rows.append((f"ulog_{n:04d}b", f"att_{n:04d}b", f"ses_{n:04d}", user, f"cli_{n:04d}", provider, language,
                     "retry_success", True, f"ulog_{n:04d}a", 30, 0.003, plan, "2026-01-11 10:00:00+00",
                     "2026-01-01", 1, 1))
    return rows


def create_marts(conn: duckdb.DuckDBPyConnection, with_dimensions: bool = True) -> None:
    conn.execute("create schema if not exists marts")
    conn.execute("""create or replace table marts.usage_logs (
        usage_log_id VARCHAR, attempt_id VARCHAR, session_id VARCHAR, user_id VARCHAR, client_id VARCHAR,
        stt_provider VARCHAR, language VARCHAR, transcription_type VARCHAR, is_billable BOOLEAN,
        parent_usage_log_id VARCHAR, duration_seconds DECIMAL(18,3), cost_usd DECIMAL(18,6), plan_at_usage VARCHAR,
        transcription_completed_at TIMESTAMPTZ, usage_month DATE, source_batch_id BIGINT, users_batch_id BIGINT)""")
    conn.executemany("insert into marts.usage_logs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _logs())
    conn.execute("""create or replace table marts.usage_analytics as
        select user_id, usage_month, count(*)::bigint as total_transcriptions, sum(cost_usd) as total_cost_usd,
               count(distinct session_id)::bigint as unique_sessions, max(source_batch_id) as source_batch_id
        from marts.usage_logs group by all""")
    conn.execute("""create or replace table marts.billing_statements as
        select user_id, usage_month as billing_month, any_value(plan_at_usage) as plan,
               cast(case when any_value(plan_at_usage) = 'pro' then 20 else 0 end as decimal(18,2)) as subscription_fee_usd,
               2::bigint as billable_minutes, 0::bigint as minutes_over_quota, sum(cost_usd) as usage_charges_usd,
               0::decimal(18,6) as adjustments_usd, sum(cost_usd) + 20 as total_usd, count(*)::bigint as usage_log_count,
               false as is_closed, null::timestamptz as closed_at, sha256(user_id) as statement_digest
        from marts.usage_logs group by user_id, usage_month""")
    if not with_dimensions:
        return
    conn.execute("""create or replace table marts.dim_users as
        select user_id, any_value(plan_at_usage) as plan, 'coach' as role, 'active' as lifecycle_status,
               true as is_active, null::timestamptz as deleted_at, user_id || '@example.com' as email,
               'chg_' || user_id as last_change_id
        from marts.usage_logs group by user_id""")
    conn.execute("""create or replace table marts.dim_users_history as
        select 'chg_' || user_id as change_id, user_id, 1 as version_number, plan, 'active' as lifecycle_status,
               timestamptz '2026-01-01 00:00:00+00' as valid_from, null::timestamptz as valid_to
        from marts.dim_users""")
    conn.execute("""create or replace table marts.dim_clients as
        select client_id, user_id, case when user_id = 'usr_0001' then 'usr_0002' end as deleted_by_user_id,
               'individual' as client_type, user_id <> 'usr_0001' as is_active
        from marts.usage_logs group by client_id, user_id""")


def _rows(conn: duckdb.DuckDBPyConnection, view: str) -> list[dict]:
    cursor = conn.execute(f"select * from {view}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _anonymized_views(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in conn.execute(
        "select 'anonymized.' || view_name from duckdb_views() where schema_name = 'anonymized' order by 1"
    ).fetchall()]


def _raw_ids(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Every value of every id column of the marts (watermarks like source_batch_id are not ids)."""
    ids: set[str] = set()
    for table, column in conn.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
        "and list_contains(?, column_name)", [list(ID_COLUMNS)]
    ).fetchall():
        ids |= {r[0] for r in conn.execute(f"select distinct {column}::varchar from marts.{table} "
                                           f"where {column} is not null").fetchall()}
    return ids


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, settings: Settings, conn: duckdb.DuckDBPyConnection) -> Settings:
    monkeypatch.setenv("COACHWH_PSEUDONYM_KEY", KEY)
    create_marts(conn)
    return Settings.from_env()


def test_pseudonyms_equal_the_python_hmac_and_are_stable_across_builds(keyed, conn):
    first = build_anonymized(keyed, conn)
    key = KEY.encode()
    assert first.pseudonyms_added["user"] == len(USERS)
    assert {r["user_id"] for r in _rows(conn, "anonymized.dim_users")} == {pseudonym(key, "user", u) for u in USERS}
    mapped = conn.execute("select id_kind, id_value, pseudonym from governance.pseudonyms").fetchall()
    assert mapped and all(p == pseudonym(key, kind, value) for kind, value, p in mapped)
    log = next(r for r in _rows(conn, "anonymized.usage_logs")
               if r["attempt_id"] == pseudonym(key, "attempt", "att_0003b"))
    assert log["usage_log_id"] == pseudonym(key, "usage_log", "ulog_0003b")
    assert log["parent_usage_log_id"] == pseudonym(key, "usage_log", "ulog_0003a")
    assert log["session_id"] == pseudonym(key, "session", "ses_0003")
    assert log["client_id"] == pseudonym(key, "client", "cli_0003")
    # One pseudonym per id: the views have exactly the rows of their marts.
    assert conn.execute("select count(*) from (select distinct id_kind, id_value from governance.pseudonyms)"
                        ).fetchall()[0][0] == len(mapped)
    for mart in ("usage_logs", "usage_analytics", "billing_statements", "dim_users", "dim_clients", "dim_users_history"):
        assert len(_rows(conn, f"anonymized.{mart}")) == len(_rows(conn, f"marts.{mart}"))
    before = sorted(map(str, _rows(conn, "anonymized.usage_logs")))

    second = build_anonymized(keyed, conn)

    assert second.total_pseudonyms_added == 0 and not second.map_rebuilt
    assert sorted(map(str, _rows(conn, "anonymized.usage_logs"))) == before
    assert conn.execute("select count(*) from governance.pseudonyms").fetchall()[0][0] == len(mapped)


def test_only_ids_not_mapped_yet_are_added(keyed, conn):
    build_anonymized(keyed, conn)
    conn.execute("insert into marts.dim_users values ('usr_0099', 'free', 'coach', 'active', true, null, 'x@y.z', 'chg_9')")
    report = build_anonymized(keyed, conn)
    assert dict(report.pseudonyms_added) == {"attempt": 0, "change": 1, "client": 0, "session": 0, "usage_log": 0,
                                             "user": 1}


def test_a_refresh_reads_only_the_usage_logs_computed_since_the_last_one(keyed, conn, monkeypatch):
    conn.execute("alter table marts.usage_logs add column computed_at timestamptz")
    conn.execute("update marts.usage_logs set computed_at = timestamptz '2026-02-01 00:00:00+00'")
    build_anonymized(keyed, conn)
    # An older log's attempt loses its pseudonym behind the map's back: a refresh that re-read old
    # logs would add it again; one that reads only newer logs does not.
    conn.execute("delete from governance.pseudonyms where id_kind = 'attempt' and id_value = 'att_0001a'")
    conn.execute("""insert into marts.usage_logs values ('ulog_new', 'att_new', 'ses_new', 'usr_0001', 'cli_0001',
        'google', 'en-US', 'original', true, null, 60, 0.006, 'pro', '2026-01-12 10:00:00+00', '2026-01-01', 2, 1,
        timestamptz '2026-02-02 00:00:00+00')""")

    report = build_anonymized(keyed, conn)

    assert (report.pseudonyms_added["attempt"], report.pseudonyms_added["session"],
            report.pseudonyms_added["usage_log"]) == (1, 1, 1)
    assert conn.execute("select mart, computed_through from governance.pseudonym_watermarks").fetchall()[0][0] == (
        "usage_logs")
    # Under a new key the map is rebuilt from every row, old logs included.
    monkeypatch.setenv("COACHWH_PSEUDONYM_KEY", OTHER_KEY)
    rebuilt = build_anonymized(Settings.from_env(), conn)
    assert rebuilt.map_rebuilt
    assert rebuilt.pseudonyms_added["attempt"] == len(USERS) * 2 + 1


def test_a_different_key_gives_different_pseudonyms_and_rebuilds_the_map(keyed, conn, monkeypatch):
    build_anonymized(keyed, conn)
    first = {r["user_id"] for r in _rows(conn, "anonymized.dim_users")}
    monkeypatch.setenv("COACHWH_PSEUDONYM_KEY", OTHER_KEY)

    report = build_anonymized(Settings.from_env(), conn)

    assert report.map_rebuilt
    second = {r["user_id"] for r in _rows(conn, "anonymized.dim_users")}
    assert second == {pseudonym(OTHER_KEY.encode(), "user", u) for u in USERS}
    assert not first & second
    fingerprints = conn.execute("select distinct key_fingerprint from governance.pseudonyms").fetchall()
    assert fingerprints == [(report.key_fingerprint,)]


def test_no_raw_id_value_from_the_marts_appears_in_any_anonymized_view(keyed, conn):
    report = build_anonymized(keyed, conn)
    raw_ids = _raw_ids(conn)
    assert {"usr_0001", "ulog_0001a", "att_0001a", "ses_0001", "cli_0001", "chg_usr_0001"} <= raw_ids
    views = _anonymized_views(conn)
    assert set(views) == set(report.views) == {
        "anonymized.usage_logs", "anonymized.usage_analytics", "anonymized.billing_statements",
        "anonymized.dim_users", "anonymized.dim_clients", "anonymized.dim_users_history",
        "anonymized.usage_by_month_plan",
        "anonymized.usage_by_month_language", "anonymized.statements_by_month_plan",
    }
    for view in views:
        for row in _rows(conn, view):
            for column, value in row.items():
                text = str(value)
                assert not any(raw in text for raw in raw_ids), f"{view}.{column} shows a raw id: {text}"


def test_pii_watermarks_and_digests_are_left_out_and_other_columns_kept(keyed, conn):
    report = build_anonymized(keyed, conn)
    columns = {view: [d[0] for d in conn.execute(f"select * from {view} limit 0").description]
               for view in report.views}
    assert "email" not in columns["anonymized.dim_users"]
    assert "statement_digest" not in columns["anonymized.billing_statements"]
    assert columns["anonymized.usage_logs"] == [
        "usage_log_id", "attempt_id", "session_id", "user_id", "client_id", "stt_provider", "language",
        "transcription_type", "is_billable", "parent_usage_log_id", "duration_seconds", "cost_usd", "plan_at_usage",
        "transcription_completed_at", "usage_month",
    ]
    assert report.omitted_columns["dim_users"] == ("email",)


def test_the_key_appears_in_no_view_definition_and_no_table_value(keyed, conn):
    build_anonymized(keyed, conn)
    for (sql,) in conn.execute("select sql from duckdb_views() where not internal").fetchall():
        assert KEY not in (sql or "")
    tables = conn.execute(
        "select database_name, schema_name, table_name from duckdb_tables() where not internal"
    ).fetchall()
    assert any(t[1:] == ("governance", "pseudonyms") for t in tables)
    for database, schema, table in tables:
        hits = conn.execute(
            f'select count(*) from "{database}"."{schema}"."{table}" as t '
            f"where contains(cast(t as varchar), ?)", [KEY]
        ).fetchall()[0][0]
        assert hits == 0, f"{database}.{schema}.{table} holds the key"


def test_groups_with_fewer_than_k_users_are_suppressed_and_k_is_configurable(keyed, conn, monkeypatch):
    build_anonymized(keyed, conn)  # k = 5 by default
    by_plan = _rows(conn, "anonymized.usage_by_month_plan")
    assert [(r["plan_at_usage"], r["distinct_users"], r["transcriptions"], r["billable_minutes"]) for r in by_plan] == [
        ("pro", 6, 12, 12)  # 6 x (90 s + 30 s) = 720 s = 12 min; the free group (2 users) is left out
    ]
    assert [r["language"] for r in _rows(conn, "anonymized.usage_by_month_language")] == ["en-US"]
    assert [r["plan"] for r in _rows(conn, "anonymized.statements_by_month_plan")] == ["pro"]

    monkeypatch.setenv("COACHWH_K_ANONYMITY", "2")
    assert build_anonymized(Settings.from_env(), conn).k == 2
    assert sorted(r["plan_at_usage"] for r in _rows(conn, "anonymized.usage_by_month_plan")) == ["free", "pro"]

    monkeypatch.setenv("COACHWH_K_ANONYMITY", "7")
    build_anonymized(Settings.from_env(), conn)
    for view in ("usage_by_month_plan", "usage_by_month_language", "statements_by_month_plan"):
        assert _rows(conn, f"anonymized.{view}") == []


def test_in_production_without_a_key_the_build_stops_naming_the_variable(keyed, conn, monkeypatch):
    build_anonymized(keyed, conn)
    mapped = conn.execute("select count(*) from governance.pseudonyms").fetchall()[0][0]
    conn.execute("create table marts.dim_coach_profiles as select 'cp_1' as coach_profile_id, 'Lyon' as city")
    monkeypatch.delenv("COACHWH_PSEUDONYM_KEY")
    monkeypatch.setenv("COACHWH_ENV", "prod")
    settings = Settings.from_env()

    with pytest.raises(CoachwhError, match="COACHWH_PSEUDONYM_KEY"):
        build_anonymized(settings, conn)

    # Nothing new is built and no default key is made; the earlier views may stay.
    assert "anonymized.dim_coach_profiles" not in _anonymized_views(conn)
    assert "anonymized.usage_logs" in _anonymized_views(conn)
    assert conn.execute("select count(*) from governance.pseudonyms").fetchall()[0][0] == mapped
    assert not (settings.secrets_dir / KEY_FILE_NAME).exists()


def test_outside_production_without_a_key_a_local_key_file_is_created_with_a_warning(settings, conn, home, caplog):
    create_marts(conn)
    with caplog.at_level(logging.WARNING):
        report = build_anonymized(settings, conn)
    key_file = home / "secrets" / KEY_FILE_NAME
    assert key_file.exists() and not key_file.is_relative_to(settings.duckdb_path)
    assert any("COACHWH_PSEUDONYM_KEY is not set" in r.getMessage() for r in caplog.records)
    key = key_file.read_text(encoding="utf-8").strip().encode()
    assert {r["user_id"] for r in _rows(conn, "anonymized.dim_users")} == {pseudonym(key, "user", u) for u in USERS}
    # The same file is used again: pseudonyms stay stable across runs.
    assert build_anonymized(settings, conn).key_fingerprint == report.key_fingerprint


def test_an_unmapped_id_column_fails_the_build(keyed, conn):
    conn.execute("alter table marts.dim_clients add column referrer_id VARCHAR default 'usr_0003'")
    with pytest.raises(CoachwhError, match=r"marts\.dim_clients\.referrer_id"):
        build_anonymized(keyed, conn)
    assert _anonymized_views(conn) == []
    ensure_governance_tables(conn)
    assert conn.execute("select count(*) from governance.pseudonyms").fetchall()[0][0] == 0


def test_missing_dimension_marts_are_skipped(settings, conn, monkeypatch):
    monkeypatch.setenv("COACHWH_PSEUDONYM_KEY", KEY)
    create_marts(conn, with_dimensions=False)
    report = build_anonymized(Settings.from_env(), conn)
    assert "dim_users" in report.skipped_marts and "dim_coach_profiles_history" in report.skipped_marts
    assert "anonymized.dim_users" not in _anonymized_views(conn)
    assert "anonymized.usage_logs" in _anonymized_views(conn)


def test_the_refresh_is_audited_with_its_counts(keyed, conn):
    report = build_anonymized(keyed, conn, run_id="run-1", actor="analyst-admin")
    operation, actor, run_id, counts = conn.execute(
        "select operation, actor, run_id, counts from audit.audit_logs order by sequence_number desc limit 1"
    ).fetchall()[0]
    counts = json.loads(counts)
    assert (operation, actor, run_id) == ("anonymized_refresh", "analyst-admin", "run-1")
    assert counts["views_built"] == len(report.views)
    assert counts["pseudonyms_added"] == report.total_pseudonyms_added > 0
    assert counts["k_anonymity"] == 5


def test_the_dagster_asset_builds_the_views_and_reports_them(keyed, conn, home: Path):
    conn.close()  # the asset opens the warehouse itself
    result = dg.materialize([anonymized_views], resources={"warehouse": WarehouseResource()})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    materialization = event.materialization
    assert materialization.asset_key == ANONYMIZED_VIEWS_KEY
    metadata = materialization.metadata
    assert metadata["views_built"].value == 9
    assert metadata["k_anonymity"].value == 5
    assert metadata["pseudonyms_added"].value > 0
