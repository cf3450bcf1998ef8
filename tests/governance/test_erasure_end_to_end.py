"""A subject erased through the real commands: `coachwh gdpr request`, then `coachwh run`.

Unlike test_gdpr.py (the processing functions), this goes through the Dagster job the CLI and the
schedules run, so the Dagster run storage, the run logs and the dbt build are part of what is searched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagster_project.cli import main
from dagster_project.config import Settings
from dagster_project.warehouse import connection
from tests.conftest import event, write_jsonl
from tests.governance.test_gdpr import (
    CLIENT,
    CLIENT_PII,
    USER,
    USER_PII,
    _audit_event,
    _clients,
    _columns_holding,
    _files_holding,
    _profiles,
    _users,
)


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("erasure-e2e") / "home"
    saved = dict(os.environ)
    for var in ("COACHWH_LANDING_DIR", "COACHWH_DUCKDB_PATH", "DAGSTER_HOME", "COACHWH_VAULT_PATH",
                "COACHWH_PSEUDONYM_KEY", "COACHWH_ENV"):
        os.environ.pop(var, None)
    os.environ.update({"COACHWH_HOME": str(home), "COACHWH_DUCKDB_MEMORY_LIMIT": "2GB", "COACHWH_DUCKDB_THREADS": "2"})
    landing = home / "landing"
    write_jsonl(landing, "users", "u1.jsonl", _users())
    write_jsonl(landing, "coach_profiles", "p1.jsonl", _profiles())
    write_jsonl(landing, "clients", "c1.jsonl", _clients())
    write_jsonl(landing, "audit_events", "a1.jsonl", [_audit_event()])
    events = []
    for i in range(3):
        events += [event(f"s{i}", attempt_id=f"a{i}", session_id=f"sess{i}", user_id=USER, client_id=CLIENT,
                         event_type="transcription_started", occurred_at=f"2026-10-0{i + 1}T10:00:00Z"),
                   event(f"c{i}", attempt_id=f"a{i}", session_id=f"sess{i}", user_id=USER, client_id=CLIENT,
                         event_type="transcription_completed", occurred_at=f"2026-10-0{i + 1}T10:05:00Z",
                         duration_seconds=300)]
    write_jsonl(landing, "transcription_events", "e1.jsonl", events)
    codes = {"first": main(["run", "--as-of", "2026-11-10T00:00:00Z"])}
    settings = Settings.from_env()
    # The values are in the vault now: the byte search below can see them (so "none found" means gone).
    assert _files_holding(home, USER_PII[:2])
    codes["access"] = main(["gdpr", "request", "--type", "access", "--subject-type", "user", "--subject-id", USER,
                            "--reason", "subject asked for a copy"])
    codes["second"] = main(["run", "--as-of", "2026-11-11T00:00:00Z"])
    with connection(settings, read_only=True) as conn:
        exported = conn.execute("select export_path from marts.gdpr_requests where request_type = 'access'").fetchall()
    for subject_type, subject_id in (("user", USER), ("client", CLIENT)):
        codes[f"erase_{subject_type}"] = main(["gdpr", "request", "--type", "erasure", "--subject-type", subject_type,
                                               "--subject-id", subject_id, "--reason", "right to be forgotten"])
    codes["third"] = main(["run", "--as-of", "2026-11-12T00:00:00Z"])
    yield {"home": home, "settings": settings, "codes": codes, "exported": exported}
    os.environ.clear()
    os.environ.update(saved)


def test_every_command_of_the_erasure_story_exits_0(erased):
    assert erased["codes"] == {"first": 0, "access": 0, "second": 0, "erase_user": 0, "erase_client": 0, "third": 0}


def test_after_the_run_no_file_under_coachwh_home_holds_any_pii_of_the_erased_subjects(erased):
    home: Path = erased["home"]
    assert erased["exported"] and erased["exported"][0][0]  # an access package existed before the erasure
    assert _files_holding(home, USER_PII + CLIENT_PII) == {}
    assert (home / "dagster").is_dir() and any((home / "logs").iterdir())  # run storage and logs were searched


def test_after_the_run_no_text_column_of_any_table_holds_any_pii_of_the_erased_subjects(erased):
    with connection(erased["settings"], read_only=True) as conn:
        assert _columns_holding(conn, USER_PII + CLIENT_PII) == []


def test_the_usage_logs_and_statements_stay_and_the_subjects_show_as_anonymized(erased):
    with connection(erased["settings"], read_only=True) as conn:
        assert conn.execute("select count(*) from marts.usage_logs where user_id = ?", [USER]).fetchall()[0][0] == 3
        assert conn.execute("select count(*) from marts.billing_statements where user_id = ?",
                            [USER]).fetchall()[0][0] >= 1
        assert conn.execute("select lifecycle_status from marts.dim_users where user_id = ?",
                            [USER]).fetchall() == [("anonymized",)]
        assert conn.execute("select lifecycle_status from marts.dim_clients where client_id = ?",
                            [CLIENT]).fetchall() == [("anonymized",)]
        requests = conn.execute(
            "select request_type, status, outcome, completed_at is not null from marts.gdpr_requests order by 1, 2"
        ).fetchall()
        assert requests == [("access", "completed", "exported", True), ("erasure", "completed", "erased", True),
                            ("erasure", "completed", "erased", True)]
        audited = conn.execute(
            "select count(*) from audit.audit_logs where operation = 'gdpr_erasure' and entity_id not in (?, ?)",
            [USER, CLIENT],
        ).fetchall()[0][0]
        assert audited == 2
