"""Retention policies are enforced: soft-deleted PII erased, quarantined text and old session detail purged."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.audit.trail import record
from dagster_project.config import Settings
from dagster_project.governance import retention
from dagster_project.governance.retention import enforce_retention, load_policies, retention_violations
from dagster_project.governance.retention_cli import add_retention_command
from dagster_project.ingestion import ingest_landing
from dagster_project.warehouse import open_connection
from tests.conftest import event, write_jsonl

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)

POLICIES = [
    ("soft_deleted_user_pii", 30, "anonymize"),
    ("soft_deleted_client_pii", 30, "anonymize"),
    ("soft_deleted_coach_profile_pii", 30, "anonymize"),
    ("quarantine_raw_text", 30, "delete"),
    ("session_detail_free", 30, "delete"),
    ("session_detail_student", 180, "delete"),
    ("session_detail_pro", 365, "delete"),
    ("session_detail_coaching_school", None, "retain"),
    ("warehouse_audit_logs", 3650, "archive"),
    ("platform_audit_events", 3650, "archive"),
]


def _ts(days_before_as_of: float) -> str:
    return (AS_OF - timedelta(days=days_before_as_of)).isoformat()


class FakeEraser:
    """Deletes the subject's vault.pii rows (only one stream's, when scoped) and remembers the call."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str, str, str | None]] = []
        self.fail_for = fail_for or set()

    def __call__(self, settings, conn, subject_type, subject_id, *, trigger, run_id, actor, source_stream):
        if subject_id in self.fail_for:
            raise RuntimeError(f"cannot erase {subject_id}")
        self.calls.append((subject_type, subject_id, trigger, source_stream))
        scope = "" if source_stream is None else f" and source_stream = '{source_stream}'"
        conn.execute(f"delete from vault.pii where subject_type = ? and subject_id = ?{scope}", [subject_type, subject_id])


def _user(change: str, user_id: str, plan: str, days: float) -> dict:
    return {"change_id": change, "changed_at": _ts(days), "op": "insert", "user_id": user_id, "plan": plan,
            "role": "user", "email": f"{user_id}@example.com", "name": f"Name {user_id}"}


def _client(change: str, client_id: str, days: float, op: str = "insert", deleted_days: float | None = None) -> dict:
    row = {"change_id": change, "changed_at": _ts(days), "op": op, "client_id": client_id, "user_id": "usr_free",
           "name": f"Client {client_id}", "email": f"{client_id}@example.com", "is_active": deleted_days is None}
    if deleted_days is not None:
        row["deleted_at"] = _ts(deleted_days)
    return row


def _attempt(prefix: str, session: str, user: str, days: float, outcome: str = "transcription_completed") -> list[dict]:
    return [
        event(f"{prefix}_s", "transcription_started", attempt_id=prefix, session_id=session, user_id=user,
              occurred_at=_ts(days + 0.01)),
        event(f"{prefix}_e", outcome, attempt_id=prefix, session_id=session, user_id=user, occurred_at=_ts(days)),
    ]


def _landing(settings: Settings) -> None:
    landing = settings.landing_dir
    write_jsonl(landing, "users", "users_1.jsonl", [
        _user("u1", "usr_free", "free", 200), _user("u2", "usr_pro", "pro", 200),
    ])
    write_jsonl(landing, "clients", "clients_1.jsonl", [
        _client("c1", "cli_old", 100), _client("c2", "cli_old", 61, "update", deleted_days=61),
        _client("c3", "cli_recent", 100), _client("c4", "cli_recent", 12, "update", deleted_days=12),
        _client("c5", "cli_active", 100),
        _client("c6", "cli_gone", 100), _client("c7", "cli_gone", 90, "delete"),
        '{"change_id": "c8", "not json',
    ])
    write_jsonl(landing, "coach_profiles", "profiles_1.jsonl", [
        {"change_id": "p1", "changed_at": _ts(100), "op": "insert", "coach_profile_id": "prof_pro",
         "user_id": "usr_pro", "display_name": "Coach Pro", "is_active": True},
        {"change_id": "p2", "changed_at": _ts(45), "op": "update", "coach_profile_id": "prof_pro",
         "user_id": "usr_pro", "display_name": "Coach Pro", "is_active": False, "deleted_at": _ts(45)},
    ])
    write_jsonl(landing, "transcription_events", "free.jsonl", [
        # 40 days old, with a failed attempt first: purged once its completed attempt has a log.
        *_attempt("a_fail", "ses_free_old", "usr_free", 41, "transcription_failed"),
        *_attempt("a_old", "ses_free_old", "usr_free", 40),
        # as old, but its completed attempt has no usage log: kept.
        *_attempt("a_unlogged", "ses_free_unlogged", "usr_free", 40),
        *_attempt("a_recent", "ses_free_recent", "usr_free", 10),
        '{"event_id": "broken line',
    ])
    write_jsonl(landing, "transcription_events", "pro.jsonl", _attempt("a_pro", "ses_pro_old", "usr_pro", 40))


def _prepare(settings: Settings, conn: duckdb.DuckDBPyConnection, usage_logs: bool = True) -> None:
    _landing(settings)
    ingest_landing(settings, conn)
    conn.execute("create schema if not exists reference")
    conn.execute("create table reference.data_retention_policies (data_category VARCHAR, description VARCHAR, "
                 "retention_days INTEGER, action VARCHAR, grace_days INTEGER)")
    for category, days, action in POLICIES:
        conn.execute("insert into reference.data_retention_policies values (?, '', ?, ?, 0)", [category, days, action])
    if usage_logs:
        conn.execute("create schema if not exists marts")
        conn.execute("create table marts.usage_logs (attempt_id VARCHAR, source_batch_id BIGINT)")
        conn.execute("insert into marts.usage_logs select attempt_id, (select max(_batch_id) from raw.transcription_events) "
                     "from (values ('a_old'), ('a_recent'), ('a_pro')) as t(attempt_id)")
    # Quarantine happened "now"; age one text of each kind past the 30 days.
    for table in ("raw.quarantine", "vault.quarantine_text"):
        conn.execute(f"update {table} set quarantined_at = ? where stream = 'clients'", [_ts(45)])
        conn.execute(f"update {table} set quarantined_at = ? where stream = 'transcription_events'", [_ts(5)])


def _state(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    tables = ["vault.pii", "vault.quarantine_text", "raw.transcription_events", "raw.audit_events",
              "governance.retention_runs", "governance.retention_purged_rows", "governance.erasures",
              "audit.audit_logs"]
    state: dict[str, object] = {t: conn.execute(f"select count(*) from {t}").fetchall()[0][0] for t in tables}
    state["quarantine_texts"] = conn.execute("select count(raw_text) from raw.quarantine").fetchall()[0][0]
    return state


@pytest.fixture
def prepared(settings: Settings, conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    _prepare(settings, conn)
    return conn


def test_a_dry_run_changes_nothing_and_reports_what_a_real_run_then_acts_on(settings, prepared):
    before = _state(prepared)
    eraser = FakeEraser()
    dry = enforce_retention(settings, prepared, AS_OF, dry_run=True, eraser=eraser)
    assert _state(prepared) == before
    assert eraser.calls == [] and dry.retention_run_id is None
    real = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=eraser)
    assert [(r.data_category, r.evaluated, r.acted_on) for r in dry.results] == \
        [(r.data_category, r.evaluated, r.acted_on) for r in real.results]
    acted = {r.data_category: r.acted_on for r in real.results}
    assert acted["soft_deleted_client_pii"] == 1 and acted["quarantine_raw_text"] == 1
    assert acted["session_detail_free"] == 1 and acted["soft_deleted_coach_profile_pii"] == 1


def test_a_client_soft_deleted_past_30_days_is_erased_and_a_recent_one_is_not(settings, prepared):
    eraser = FakeEraser()
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=eraser)
    assert ("client", "cli_old", "retention", None) in eraser.calls
    assert not [c for c in eraser.calls if c[1] in {"cli_recent", "cli_active", "cli_gone"}]
    clients = report.result("soft_deleted_client_pii")
    assert (clients.evaluated, clients.acted_on, clients.failed, clients.status) == (2, 1, 0, "succeeded")
    left = {r[0] for r in prepared.execute("select distinct subject_id from vault.pii where subject_type = 'client'").fetchall()}
    assert left == {"cli_recent", "cli_active", "cli_gone"}  # a hard-deleted client is kept until a request


def test_a_soft_deleted_coach_profile_loses_only_its_own_pii_not_its_users(settings, prepared):
    eraser = FakeEraser()
    enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=eraser)
    assert ("user", "usr_pro", "retention", "coach_profiles") in eraser.calls
    streams = {r[0] for r in prepared.execute(
        "select distinct source_stream from vault.pii where subject_type = 'user' and subject_id = 'usr_pro'").fetchall()}
    assert streams == {"users"}


def test_the_default_eraser_erases_clients_whole_and_coach_profiles_without_their_users_account_pii(settings, prepared):
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False)
    assert report.result("soft_deleted_client_pii").acted_on == 1, report.result("soft_deleted_client_pii").detail
    assert report.result("soft_deleted_coach_profile_pii").acted_on == 1
    held = set(prepared.execute("select subject_id, source_stream from vault.pii").fetchall())
    assert ("cli_old", "clients") not in held and ("usr_pro", "coach_profiles") not in held
    assert {("usr_pro", "users"), ("cli_recent", "clients")} <= held
    assert b"Client cli_old" not in settings.vault_path.read_bytes()
    assert b"Coach Pro" not in settings.vault_path.read_bytes()
    erasures = prepared.execute("select subject_type, subject_id, erasure_trigger from governance.erasures").fetchall()
    assert erasures == [("client", "cli_old", "retention")]  # the coach's account is not erased
    assert all(count == 0 for _, count in retention_violations(prepared, AS_OF))


def test_users_have_no_soft_delete_fields_so_their_policy_evaluates_nothing_and_says_why(settings, prepared):
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    users = report.result("soft_deleted_user_pii")
    assert (users.evaluated, users.acted_on, users.status) == (0, 0, "succeeded")
    assert "no soft-delete fields" in users.detail


def test_quarantined_texts_older_than_30_days_are_purged_from_vault_and_raw_and_newer_ones_kept(settings, prepared):
    # Make the old text a raw one too: a transcription_events line (its text is kept in raw.quarantine).
    prepared.execute("update raw.quarantine set quarantined_at = ? where stream = 'transcription_events'", [_ts(31)])
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    assert report.result("quarantine_raw_text").acted_on == 2
    assert prepared.execute("select count(*) from vault.quarantine_text").fetchall()[0][0] == 0
    assert prepared.execute("select count(raw_text), count(*) from raw.quarantine").fetchall()[0] == (0, 2)
    assert b'"c8", "not json' not in settings.vault_path.read_bytes()  # the vault file was rewritten whole


def test_a_newer_quarantined_text_is_kept(settings, prepared):
    enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    assert prepared.execute("select count(*) from vault.quarantine_text").fetchall()[0][0] == 0  # clients: 45 days
    texts = prepared.execute("select stream, raw_text is not null from raw.quarantine order by stream").fetchall()
    assert texts == [("clients", False), ("transcription_events", True)]  # 5 days old: kept


def test_a_free_users_old_session_is_purged_and_recorded_while_pro_and_unlogged_sessions_are_kept(settings, prepared):
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    sessions = {r[0] for r in prepared.execute("select distinct session_id from raw.transcription_events").fetchall()}
    assert sessions == {"ses_free_unlogged", "ses_free_recent", "ses_pro_old"}
    purged = prepared.execute(
        "select stream, source_file, rows_purged, retention_run_id from governance.retention_purged_rows").fetchall()
    assert purged == [("transcription_events", "transcription_events/free.jsonl", 4, report.retention_run_id)]
    free = report.result("session_detail_free")
    assert (free.evaluated, free.acted_on) == (3, 1) and "1 past it kept" in free.detail
    assert report.result("session_detail_pro").acted_on == 0
    # The ledger still reconciles once the purged rows are added back.
    in_raw = prepared.execute("select count(*) from raw.transcription_events where _source_file like '%free.jsonl'")
    assert in_raw.fetchall()[0][0] + 4 == prepared.execute(
        "select rows_loaded from raw.ingested_files where file_path like '%free.jsonl'").fetchall()[0][0]


def test_without_usage_logs_no_session_detail_is_purged(settings, conn):
    _prepare(settings, conn, usage_logs=False)
    report = enforce_retention(settings, conn, AS_OF, dry_run=False, eraser=FakeEraser())
    assert report.result("session_detail_free").acted_on == 0
    assert "usage logs not built yet" in report.result("session_detail_free").detail
    assert conn.execute("select count(distinct session_id) from raw.transcription_events").fetchall()[0][0] == 4


def test_every_real_run_writes_one_retention_runs_row_per_policy_and_one_audit_record(settings, prepared):
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, run_id="dagster-run-1", eraser=FakeEraser())
    rows = prepared.execute(
        "select data_category, is_dry_run, as_of, evaluated, acted_on, failed, status from governance.retention_runs "
        "where retention_run_id = ? order by data_category", [report.retention_run_id]).fetchall()
    assert [r[0] for r in rows] == sorted(c for c, _, _ in POLICIES)
    assert all(r[1] is False and r[2] == AS_OF for r in rows)
    audits = prepared.execute("select entity_id, run_id, counts from audit.audit_logs where operation = 'retention_run'")
    [(entity_id, run_id, counts)] = audits.fetchall()
    assert (entity_id, run_id) == (report.retention_run_id, "dagster-run-1")
    assert json.loads(counts)["session_detail_free"]["acted_on"] == 1


def test_retention_violations_are_counted_before_a_run_and_none_are_left_after(settings, prepared):
    before = dict(retention_violations(prepared, AS_OF))
    assert before["soft_deleted_client_pii"] == 1 and before["quarantine_raw_text"] == 1
    assert before["session_detail_free"] == 1 and before["soft_deleted_coach_profile_pii"] == 1
    enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    assert all(count == 0 for _, count in retention_violations(prepared, AS_OF))


def test_a_failing_policy_is_reported_failed_while_the_others_still_run(settings, prepared, monkeypatch):
    def broken(run, policy, result, counts):
        raise RuntimeError("disk on fire")

    kind = retention.KINDS["quarantine_raw_text"]
    monkeypatch.setitem(retention.KINDS, "quarantine_raw_text", retention._Kind(kind.count, broken, kind.actions))
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser(fail_for={"cli_old"}))
    quarantine = report.result("quarantine_raw_text")
    assert (quarantine.status, quarantine.failed) == ("failed", 1) and "disk on fire" in quarantine.detail
    clients = report.result("soft_deleted_client_pii")
    assert (clients.status, clients.acted_on, clients.failed) == ("failed", 0, 1) and "cannot erase" in clients.detail
    assert report.result("session_detail_free").acted_on == 1
    statuses = dict(prepared.execute("select data_category, status from governance.retention_runs").fetchall())
    assert statuses["quarantine_raw_text"] == "failed" and statuses["session_detail_free"] == "succeeded"


def test_a_policy_failing_inside_the_warehouse_transaction_is_dropped_and_the_rest_commit(settings, prepared):
    prepared.execute("drop table governance.retention_purged_rows")  # the session purge's insert fails
    prepared.execute("create table governance.retention_purged_rows (stream VARCHAR)")
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    free = report.result("session_detail_free")
    assert (free.status, free.acted_on, free.failed) == ("failed", 0, 1)
    assert prepared.execute("select count(distinct session_id) from raw.transcription_events").fetchall()[0][0] == 4
    assert prepared.execute("select count(raw_text) from raw.quarantine").fetchall()[0][0] == 1
    assert report.result("quarantine_raw_text").status == "succeeded"


def test_an_unknown_data_category_is_a_failed_row_not_a_crash(settings, prepared):
    prepared.execute("insert into reference.data_retention_policies values ('session_notes', '', 30, 'delete', 0)")
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    notes = report.result("session_notes")
    assert notes.status == "failed" and "unknown data category" in notes.detail
    assert report.result("session_detail_free").status == "succeeded"


def test_the_warehouse_trail_is_never_deleted_and_old_platform_audit_events_are_archived(settings, prepared):
    write_jsonl(settings.landing_dir, "audit_events", "audit_1.jsonl", [
        {"event_id": f"ae_{n}", "occurred_at": when, "event_type": "user_login", "severity": "low",
         "actor_user_id": "usr_free", "ip_address": "10.0.0.1", "checksum": "0" * 64}
        for n, when in enumerate([_ts(3651), _ts(10)])
    ])
    ingest_landing(settings, prepared)
    sequence = record(prepared, "test_operation")  # an old record of the warehouse's own trail
    prepared.execute("update audit.audit_logs set occurred_at = ? where sequence_number = ?", [_ts(4000), sequence])
    report = enforce_retention(settings, prepared, AS_OF, dry_run=False, eraser=FakeEraser())
    trail = report.result("warehouse_audit_logs")
    assert (trail.evaluated, trail.acted_on) == (1, 0) and "audit archive" in trail.detail
    assert report.result("platform_audit_events").acted_on == 1
    assert [r[0] for r in prepared.execute("select event_id from raw.audit_events").fetchall()] == ["ae_1"]
    assert prepared.execute("select count(*) from audit.audit_logs where operation = 'test_operation'").fetchall() == [(1,)]
    archive = settings.home / "archive" / "platform_audit_events" / f"{report.retention_run_id}.parquet"
    assert prepared.execute(f"select event_id from '{archive}'").fetchall() == [("ae_0",)]


def test_policies_are_read_from_the_seed_csv_before_dbt_has_loaded_them(conn, tmp_path: Path):
    path = tmp_path / "data_retention_policies.csv"
    path.write_text("data_category,description,retention_days,action,grace_days\n"
                    "session_detail_free,Free plan,30,delete,2\n"
                    "session_detail_coaching_school,Unlimited,,retain,0\n", encoding="utf-8")
    policies = {p.data_category: p for p in load_policies(conn, path)}
    assert policies["session_detail_free"].cutoff(AS_OF) == AS_OF - timedelta(days=32)
    assert policies["session_detail_coaching_school"].retention_days is None


def test_the_cli_prints_one_line_per_policy_and_a_dry_run_writes_nothing(settings, capsys):
    with open_connection(settings) as conn:
        _prepare(settings, conn)
    parser = argparse.ArgumentParser()
    add_retention_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["retention", "--dry-run", "--as-of", AS_OF.isoformat()])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    for category, _, _ in POLICIES:
        assert sum(line.startswith(category + " ") for line in out.splitlines()) == 1
    with open_connection(settings, read_only=True) as conn:
        assert conn.execute("select count(*) from governance.retention_runs").fetchall()[0][0] == 0


def test_the_daily_job_runs_the_asset_and_its_check_finds_nothing_past_retention(settings):
    import dagster as dg

    from dagster_project.defs.governance import retention as defs
    from dagster_project.resources import WarehouseResource

    with open_connection(settings) as conn:
        _prepare(settings, conn)
    assert defs.daily_retention_schedule.cron_schedule == "0 2 * * *"
    result = dg.materialize(
        [defs.retention_enforcement, defs.nothing_outlives_its_policy],
        resources={"warehouse": WarehouseResource()},
        run_config={"ops": {"governance__retention_enforcement": {"config": {"as_of": AS_OF.isoformat()}}}},
        raise_on_error=False,
    )
    assert result.success
    metadata = result.asset_materializations_for_node("governance__retention_enforcement")[0].metadata
    assert metadata["failed_policies"].value == 0 and metadata["acted_on"].value > 0
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.metadata


def test_every_policy_of_the_shipped_seed_is_one_retention_knows(conn):
    policies = load_policies(conn)  # no reference table yet: read from dbt/seeds/data_retention_policies.csv
    assert [retention._problem(p, set()) for p in policies] == [None] * len(policies)
    assert {p.data_category for p in policies} == {c for c, _, _ in POLICIES}
