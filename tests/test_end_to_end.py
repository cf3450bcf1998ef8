"""The simulator's platform data through `coachwh run`: loaded, built, checked, re-run, extended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.config import Settings
from dagster_project.simulator import generate
from dagster_project.warehouse import connection


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    """One simulated landing zone built once through the same job the CLI and the UI run."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    saved = dict(os.environ)
    for var in ("COACHWH_LANDING_DIR", "COACHWH_DUCKDB_PATH", "DAGSTER_HOME"):
        os.environ.pop(var, None)
    os.environ.update({"COACHWH_HOME": str(home), "COACHWH_DUCKDB_MEMORY_LIMIT": "2GB", "COACHWH_DUCKDB_THREADS": "2"})
    summary = generate(home / "landing", seed=3, coaches=10, months=2, events_per_month=2000)
    # The first build goes through the console script exactly as a user runs it.
    cli = subprocess.run([sys.executable, "-m", "dagster_project.cli", "run", "--as-of", "2026-11-05T00:00:00Z"],
                         env=dict(os.environ), capture_output=True, text=True, timeout=900)
    yield {"home": home, "summary": summary, "cli": cli, "settings": Settings.from_env()}
    os.environ.clear()
    os.environ.update(saved)


def _query(settings: Settings, sql: str) -> list[tuple]:
    with connection(settings, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_coachwh_run_over_simulated_data_exits_0_and_says_what_was_quarantined(warehouse):
    cli = warehouse["cli"]
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "succeeded" in cli.stdout
    # The simulator injects bad lines and contradicting terminal events: warnings, not failures.
    assert "warning: raw/quarantine quarantine_is_empty did not pass" in cli.stdout
    assert "FAILED" not in cli.stdout
    assert f"warehouse: {warehouse['settings'].duckdb_path}" in cli.stdout
    # As of 2026-11-05, September and October are past their end plus 3 days' grace: closed.
    assert "billing close 2026-10: closed now" in cli.stdout
    assert "months closed by this run: 2026-09, 2026-10" in cli.stdout
    assert _query(warehouse["settings"], "select strftime(billing_month, '%Y-%m') from billing.closed_months order by 1") == [
        ("2026-09",), ("2026-10",)
    ]


def test_every_valid_record_the_platform_sent_is_loaded_exactly_once(warehouse):
    expected = warehouse["summary"].valid_unique_records
    for stream, count in expected.items():
        assert _query(warehouse["settings"], f"select count(*) from raw.{stream}") == [(count,)], stream


def test_the_audit_trail_verifies_and_holds_one_record_per_file_build_and_close(warehouse, capsys):
    from dagster_project.cli import main

    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    settings = warehouse["settings"]
    files = _query(settings, "select count(*) from raw.ingested_files")[0][0]
    counts = dict(_query(settings, "select operation, count(*) from audit.audit_logs group by all"))
    assert counts["ingest_file"] == files
    assert counts["billing_close"] == 2  # September and October
    assert counts["dbt_build"] == counts["dbt_build_started"] >= 1
    assert counts["config_change"] == 1
    # The simulator edits a few platform audit events after hashing them: flagged, never dropped.
    flagged = _query(settings, "select count(*) from marts.platform_audit_events where not is_checksum_valid")
    assert flagged == [(warehouse["summary"].tampered_audit_checksums,)]
    assert "warning: raw/audit_events platform_audit_checksums_valid did not pass" in warehouse["cli"].stdout


def test_every_defect_is_in_quarantine_with_a_reason(warehouse):
    summary = warehouse["summary"]
    rows = dict(_query(warehouse["settings"],
                       "select split_part(reason, ':', 1), count(*) from raw.quarantine group by all"))
    assert rows.get("malformed_json", 0) == summary.malformed_lines
    assert rows.get("conflicting_duplicate", 0) == summary.conflicting_duplicates
    assert rows.get("naive_timestamp", 0) == summary.naive_timestamps
    assert rows.get("corrupt_file", 0) == summary.corrupt_files


def test_money_columns_are_decimal(warehouse):
    types = dict(_query(warehouse["settings"],
                        "select column_name, data_type from information_schema.columns "
                        "where table_schema = 'marts' and column_name like '%usd'"))
    assert types and all(t.startswith("DECIMAL") for t in types.values()), types


def test_usage_analytics_agree_with_the_usage_logs(warehouse):
    mismatches = _query(warehouse["settings"], """
        with from_logs as (
            select user_id, usage_month, count(*) as n, sum(cost_usd) as cost
            from marts.usage_logs group by all
        )
        select * from from_logs full join marts.usage_analytics as a using (user_id, usage_month)
        where coalesce(from_logs.n, 0) <> a.total_transcriptions or coalesce(from_logs.cost, 0) <> a.total_cost_usd
    """)
    assert mismatches == []


def test_running_again_with_no_new_files_changes_nothing(warehouse):
    settings = warehouse["settings"]
    before = _query(settings, "select * from marts.usage_logs order by usage_log_id")
    analytics_before = _query(settings, "select * from marts.usage_analytics order by all")
    from dagster_project.runner import run_build

    outcome = run_build(as_of="2026-11-05T00:00:00Z")

    assert outcome.exit_code == 0
    assert outcome.ingestion["new_files"] == 0
    assert _query(settings, "select * from marts.usage_logs order by usage_log_id") == before
    assert _query(settings, "select * from marts.usage_analytics order by all") == analytics_before


def test_new_files_load_only_what_is_new_and_logs_survive_a_hard_delete(warehouse):
    settings = warehouse["settings"]
    client_id, user_id, logs_before = _query(settings, """
        select client_id, user_id, count(*) from marts.usage_logs where client_id is not null
        group by all order by 3 desc limit 1""")[0]
    total_before = _query(settings, "select count(*) from marts.usage_logs")[0][0]
    landing = settings.landing_dir
    new_events = [
        {"event_id": "evt_e2e_1", "event_type": "transcription_started", "occurred_at": "2026-10-30T10:00:00Z",
         "attempt_id": "att_e2e_1", "session_id": "ses_e2e_1", "user_id": user_id, "client_id": client_id,
         "stt_provider": "assemblyai"},
        {"event_id": "evt_e2e_2", "event_type": "transcription_completed", "occurred_at": "2026-10-30T10:01:00Z",
         "attempt_id": "att_e2e_1", "session_id": "ses_e2e_1", "user_id": user_id, "client_id": client_id,
         "stt_provider": "assemblyai", "duration_seconds": 3},
    ]
    (landing / "transcription_events" / "zz-e2e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in new_events))
    hard_delete = {"change_id": "chg_e2e_delete", "changed_at": "2026-10-31T00:00:00Z", "op": "delete",
                   "client_id": client_id, "user_id": user_id}
    (landing / "clients" / "zz-e2e.jsonl").write_text(json.dumps(hard_delete) + "\n")
    from dagster_project.runner import run_build

    outcome = run_build(as_of="2026-11-05T00:00:00Z")

    assert outcome.exit_code == 0, outcome.error
    assert outcome.ingestion["new_files"] == 2
    assert _query(settings, "select count(*) from marts.usage_logs")[0][0] == total_before + 1
    assert _query(settings, f"select count(*) from marts.usage_logs where client_id = '{client_id}'")[0][0] == logs_before + 1
    assert _query(settings, "select cost_usd::varchar, transcription_type from marts.usage_logs "
                            "where attempt_id = 'att_e2e_1'") == [("0.000033", "original")]
    # October is closed: the late completion is billed as an adjustment in November.
    assert _query(settings, "select a.reason, strftime(a.original_month, '%Y-%m'), strftime(a.applied_month, '%Y-%m'), "
                            "a.delta_usage_charges_usd::varchar from marts.billing_adjustments as a "
                            "join marts.usage_logs using (usage_log_id) where attempt_id = 'att_e2e_1'") == [
        ("late_usage", "2026-10", "2026-11", "0.000033")
    ]
    assert "every_user_reconciles_with_usage_logs" not in {c.name for c in outcome.blocking_failures}


def test_the_scheduled_checks_job_runs_checks_without_rebuilding(warehouse):
    from dagster_project.runner import run_checks

    before = Path(warehouse["settings"].duckdb_path).stat().st_mtime_ns
    outcome = run_checks()
    assert outcome.exit_code == 0
    assert len(outcome.checks) > 50
    assert outcome.ingestion == {}
    assert Path(warehouse["settings"].duckdb_path).stat().st_mtime_ns == before


def test_coachwh_sql_prints_a_query_as_a_table(warehouse):
    (count,) = _query(warehouse["settings"], "select count(*) from marts.usage_logs")[0]
    result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "sql",
                             "select count(*) as usage_logs from marts.usage_logs"],
                            env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["usage_logs", "-" * len("usage_logs"), str(count), "(1", "rows)"]


def test_closing_a_closed_month_again_changes_nothing(warehouse):
    before = _query(warehouse["settings"], "select * from billing.closed_statements order by all")
    result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "billing", "close", "--month", "2026-10",
                             "--as-of", "2026-11-05T00:00:00Z"],
                            env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "billing close 2026-10: already closed" in result.stdout
    assert _query(warehouse["settings"], "select * from billing.closed_statements order by all") == before


def test_a_full_refresh_is_audited_once_with_its_reason_and_keeps_every_usage_log(warehouse):
    from dagster_project.runner import run_build

    settings = warehouse["settings"]
    logs_before = _query(settings, "select usage_log_id, cost_usd from marts.usage_logs order by 1")
    outcome = run_build(as_of="2026-11-05T00:00:00Z", full_refresh=True, reason="a model's logic changed")
    assert outcome.exit_code == 0
    records = _query(settings, "select reason, counts->>'models_built', after_values->>'outcome', run_id "
                               "from audit.audit_logs where operation = 'full_refresh'")
    assert len(records) == 1
    reason, models_built, result, run_id = records[0]
    assert (reason, result, run_id) == ("a model's logic changed", "finished", outcome.run_id)
    assert int(models_built) > 0
    assert _query(settings, "select usage_log_id, cost_usd from marts.usage_logs order by 1") == logs_before


def test_the_snapshot_compares_only_recomputed_logs_and_its_current_versions_equal_the_logs(warehouse):
    settings = warehouse["settings"]
    total = _query(settings, "select count(*) from marts.usage_logs")[0][0]
    compared = _query(settings, "select count(*) from intermediate.int_usage_logs_recomputed")[0][0]
    # After a build, only logs computed after the snapshot's newest version are left to compare.
    assert compared < total
    # Whatever was left out of the comparison, the snapshot's current version of every log is the log.
    differing = _query(settings, """
        select count(*)
        from marts.usage_logs as logs
        left join snapshots.usage_logs_snapshot as versions
            on versions.usage_log_id = logs.usage_log_id and versions.dbt_valid_to is null
        where versions.usage_log_id is null
           or (versions.transcription_type, versions.is_billable, versions.billing_reason, versions.cost_usd,
               versions.plan_at_usage)
              is distinct from (logs.transcription_type, logs.is_billable, logs.billing_reason, logs.cost_usd,
                                logs.plan_at_usage)
           or versions.parent_usage_log_id is distinct from logs.parent_usage_log_id
    """)[0][0]
    assert differing == 0


def test_each_run_leaves_row_counts_a_headline_table_and_revenue_in_the_asset_metadata(warehouse):
    # Before the test below, which deletes a raw row behind the warehouse's back.
    from decimal import Decimal

    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(warehouse["home"] / "dagster"))

    def latest(*path: str) -> dict:
        event = instance.get_latest_materialization_event(dg.AssetKey(list(path)))
        assert event is not None, path
        return event.asset_materialization.metadata

    settings = warehouse["settings"]
    for schema, table in [("raw", "transcription_events"), ("raw", "quarantine"), ("marts", "usage_logs"),
                          ("marts", "usage_analytics"), ("marts", "billing_statements")]:
        rows = _query(settings, f"select count(*) from {schema}.{table}")[0][0]
        assert latest(schema, table)["dagster/row_count"].value == rows, (schema, table)
    statements = latest("marts", "billing_statements")
    revenue = _query(settings, "select sum(total_usd) from marts.billing_statements")[0][0]
    assert Decimal(statements["revenue_usd_exact"].value) == revenue
    assert statements["revenue_usd"].value == pytest.approx(float(revenue))
    headline = latest("marts", "usage_analytics")["headline"].value
    assert headline.startswith("| month | active coaches |")
    assert "| 2026-10 |" in headline


def test_a_lost_raw_row_fails_the_blocking_reconciliation_check_and_the_exit_code(warehouse):
    """Runs last: it damages the warehouse on purpose."""
    from dagster_project.runner import run_checks

    with connection(warehouse["settings"]) as conn:
        conn.execute("delete from raw.transcription_events where event_id = (select min(event_id) from raw.transcription_events)")
    outcome = run_checks()
    assert outcome.exit_code == 1
    assert "every_file_reconciles" in {c.name for c in outcome.blocking_failures}

