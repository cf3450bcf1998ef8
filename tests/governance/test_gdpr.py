"""Data-subject requests: filing, erasure (nothing recoverable afterwards), access packages, failures."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.config import Settings
from dagster_project.contracts import load_contracts
from dagster_project.errors import CoachwhError
from dagster_project.governance import erasure, processing
from dagster_project.governance.cli_commands import add_gdpr_commands
from dagster_project.governance.erasure import landing_files_holding
from dagster_project.governance.processing import process_erasures, process_exports
from dagster_project.governance.pseudonyms import load_key, pseudonym
from dagster_project.governance.requests import file_request, pending_requests
from dagster_project.ingestion import ingest_landing
from dagster_project.warehouse import connection, ensure_schema
from tests.conftest import write_jsonl

USER = "usr_quenby"
CLIENT = "cli_quenby"
# Distinctive values, so a byte search finds nothing by chance.
USER_PII = ["Zyxwvut Quenby", "zyx.quenby@example.org", "+44 7700 900123", "Quenby Coaching Zyx",
            "coach.quenby@example.org", "Bio of Zyxwvut the coach", "203.0.113.77"]
CLIENT_PII = ["Wvutsr Clientquen", "wvutsr.cq@example.org", "+44 7700 900456", "memo about wvutsr"]
OTHER_PII = ["Ada Otheruser", "ada.otheruser@example.org"]


def _users() -> list[dict | str]:
    return [
        {"change_id": "u1", "changed_at": "2026-09-01T09:00:00+00:00", "op": "insert", "user_id": USER,
         "plan": "pro", "role": "user", "email": USER_PII[1], "name": USER_PII[0],
         "created_at": "2026-09-01T09:00:00+00:00", "nickname": "zyxie-the-coach"},
        {"change_id": "u2", "changed_at": "2026-09-01T09:00:00+00:00", "op": "insert", "user_id": "usr_other",
         "plan": "free", "role": "user", "email": OTHER_PII[1], "name": OTHER_PII[0]},
        # Malformed JSON holding the subject's PII: its text goes to the vault's quarantine.
        '{"change_id": "u3", "user_id": "' + USER + '", "email": "' + USER_PII[1] + '", "name": "' + USER_PII[0],
    ]


def _profiles() -> list[dict | str]:
    return [{"change_id": "p1", "changed_at": "2026-09-02T09:00:00+00:00", "op": "insert", "coach_profile_id": "cp1",
             "user_id": USER, "display_name": USER_PII[3], "public_email": USER_PII[4], "phone": USER_PII[2],
             "city": "Leeds", "country": "GB", "bio": USER_PII[5], "is_public": True, "is_active": True}]


def _clients() -> list[dict | str]:
    return [{"change_id": "c1", "changed_at": "2026-09-03T09:00:00+00:00", "op": "insert", "client_id": CLIENT,
             "user_id": USER, "name": CLIENT_PII[0], "email": CLIENT_PII[1], "phone": CLIENT_PII[2],
             "memo": CLIENT_PII[3], "source": "referral", "client_type": "paid", "status": "in_progress",
             "is_active": True}]


def _audit_event() -> dict:
    obj = {"event_type": "user_login", "user_id": USER, "entity_type": "user", "entity_id": USER,
           "operation": "login", "description": "login", "timestamp": "2026-09-04T09:00:00+00:00",
           "old_values": None, "new_values": None}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"event_id": "ae1", "occurred_at": obj["timestamp"], "event_type": "user_login", "severity": "low",
            "actor_user_id": USER, "entity_type": "user", "entity_id": USER, "operation": "login",
            "description": "login", "ip_address": USER_PII[6], "user_agent": "Mozilla/5.0",
            "checksum": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _load_subjects(settings: Settings, conn: duckdb.DuckDBPyConnection) -> None:
    write_jsonl(settings.landing_dir, "users", "users-1.jsonl", _users())
    write_jsonl(settings.landing_dir, "coach_profiles", "profiles-1.jsonl.gz", _profiles(), gz=True)
    write_jsonl(settings.landing_dir, "clients", "clients-1.jsonl", _clients())
    write_jsonl(settings.landing_dir, "audit_events", "audit-1.jsonl", [_audit_event()])
    report = ingest_landing(settings, conn)
    assert report.total("rows_quarantined") == 1


def _file_and_process(settings: Settings, conn: duckdb.DuckDBPyConnection, request_type: str, subject_type: str,
                      subject_id: str) -> str:
    request_id = file_request(settings, request_type, subject_type, subject_id, "asked by the data subject", "dpo")
    ingest_landing(settings, conn)
    process_erasures(settings, conn, run_id="run-1")
    process_exports(settings, conn, run_id="run-1")
    return request_id


def _status(conn: duckdb.DuckDBPyConnection, request_id: str) -> dict:
    cursor = conn.execute("select * from governance.gdpr_request_status where request_id = ?", [request_id])
    columns = [d[0] for d in cursor.description]
    (row,) = cursor.fetchall()
    return dict(zip(columns, row, strict=True))


def _vault_rows(conn: duckdb.DuckDBPyConnection, subject_type: str, subject_id: str) -> int:
    return conn.execute(
        "select (select count(*) from vault.pii where subject_type = $t and subject_id = $i)"
        " + (select count(*) from vault.extra_fields where subject_type = $t and subject_id = $i)",
        {"t": subject_type, "i": subject_id},
    ).fetchall()[0][0]


def _files_holding(home: Path, values: list[str]) -> dict[str, list[str]]:
    """Every file under home whose bytes (decompressed for .gz) contain one of the values."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        hits = [v for v in values if v.encode("utf-8") in data]
        if hits:
            found[str(path.relative_to(home))] = hits
    return found


def _columns_holding(conn: duckdb.DuckDBPyConnection, values: list[str]) -> list[str]:
    """Every VARCHAR/JSON column of every table of the warehouse and the vault that holds one of the values."""
    columns = conn.execute(
        "select table_catalog, table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_catalog not in ('system', 'temp')"
    ).fetchall()
    hits = []
    for catalog, schema, table, column in columns:
        name = f'"{catalog}"."{schema}"."{table}"'
        for value in values:
            found = conn.execute(f'select count(*) from {name} where contains("{column}"::varchar, ?)', [value])
            if found.fetchall()[0][0]:
                hits.append(f"{catalog}.{schema}.{table}.{column}")
    return hits


def _create_marts(conn: duckdb.DuckDBPyConnection) -> None:
    """The two marts a package reads, as dbt would leave them (dbt does not run in these tests)."""
    conn.execute("create schema if not exists marts")
    conn.execute("create table marts.usage_logs (usage_log_id varchar, user_id varchar, client_id varchar, "
                 "cost_usd decimal(18, 6), transcription_completed_at timestamptz)")
    conn.execute(f"insert into marts.usage_logs values ('log1', '{USER}', '{CLIENT}', 0.009000, "
                 "'2026-09-05 10:00:00+00'), ('log2', 'usr_other', null, 0.1, '2026-09-05 11:00:00+00')")
    conn.execute("create table marts.billing_statements (user_id varchar, billing_month date, total_usd decimal(18, 6))")
    conn.execute(f"insert into marts.billing_statements values ('{USER}', '2026-09-01', 29.999000)")


# -- filing ------------------------------------------------------------------------------------


def test_filing_through_the_cli_writes_one_valid_landing_line_that_ingestion_loads(settings, conn, monkeypatch, capsys):
    monkeypatch.setenv("COACHWH_ACTOR", "privacy-officer")
    parser = argparse.ArgumentParser()
    add_gdpr_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["gdpr", "request", "--type", "erasure", "--subject-type", "user",
                              "--subject-id", USER, "--reason", "Art. 17 request by email"])

    assert args.func(args) == 0

    out = capsys.readouterr().out
    (path,) = (settings.landing_dir / "gdpr_requests").iterdir()
    request_id = path.name.removeprefix("coachwh-cli-").removesuffix(".jsonl")
    assert request_id.startswith("gdpr_") and len(request_id) == len("gdpr_") + 12
    assert request_id in out and "it will be processed by the next `coachwh run`" in out
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["reason"] == "Art. 17 request by email" and record["requested_by"] == "privacy-officer"
    report = ingest_landing(settings, conn)
    assert report.total("rows_loaded") == 1 and report.total("rows_quarantined") == 0
    (pending,) = pending_requests(conn)
    assert (pending.request_id, pending.request_type, pending.subject_id, pending.reason, pending.status) == (
        request_id, "erasure", USER, "Art. 17 request by email", None)
    contract_fields = set(load_contracts()["gdpr_requests"].field_names)
    assert set(record) - contract_fields == {"reason"}


def test_status_shows_a_filed_request_as_waiting_and_then_as_completed(settings, capsys):
    parser = argparse.ArgumentParser()
    add_gdpr_commands(parser.add_subparsers(dest="command"))
    request_id = file_request(settings, "access", "user", "usr_nobody", "asked by the data subject", "dpo")
    args = parser.parse_args(["gdpr", "status", "--request-id", request_id])

    assert args.func(args) == 0
    assert "filed, not loaded yet" in capsys.readouterr().out

    with connection(settings) as conn:
        ingest_landing(settings, conn)
        process_exports(settings, conn)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert request_id in out and "completed" in out and "no_data_held" in out
    with pytest.raises(CoachwhError, match="no request gdpr_000000000000"):
        args.func(parser.parse_args(["gdpr", "status", "--request-id", "gdpr_000000000000"]))


@pytest.mark.parametrize(("args", "message"), [
    (("deletion", "user", USER, "why"), "--type must be one of"),
    (("erasure", "coach", USER, "why"), "--subject-type must be one of"),
    (("erasure", "user", "", "why"), "--subject-id"),
    (("erasure", "user", "x" * 65, "why"), "at most 64"),
    (("erasure", "user", USER, " "), "--reason"),
])
def test_a_bad_request_is_refused_with_one_line_and_nothing_is_written(settings, args, message):
    with pytest.raises(CoachwhError, match=message) as info:
        file_request(settings, *args, requested_by="dpo")
    assert "\n" not in str(info.value)
    assert not (settings.landing_dir / "gdpr_requests").exists()


# -- erasure -------------------------------------------------------------------------------------


def test_after_an_erasure_no_file_under_home_and_no_column_holds_the_subjects_pii(settings, conn, home):
    _load_subjects(settings, conn)
    conn.execute("checkpoint vault")
    # The byte search can see the values at all (DuckDB stores these short strings uncompressed).
    assert "coachwh.vault.duckdb" in _files_holding(home, USER_PII)

    request_id = _file_and_process(settings, conn, "erasure", "user", USER)

    assert _vault_rows(conn, "user", USER) == 0
    status = _status(conn, request_id)
    assert (status["status"], status["outcome"], status["attempts"]) == ("completed", "erased", 1)
    assert status["completed_at"] is not None and status["vault_rows_erased"] == 8  # 7 PII values + 1 extra
    erasures = conn.execute("select subject_id, request_id, quarantine_texts_deleted from governance.erasures")
    assert erasures.fetchall() == [(USER, request_id, 1)]
    audit = conn.execute(
        "select entity_type, entity_id, reason, counts from audit.audit_logs where operation = 'gdpr_erasure'"
    ).fetchall()
    assert [(t, i, r) for t, i, r, _ in audit] == [("user", pseudonym(load_key(settings), "user", USER),
                                                    "asked by the data subject")]
    assert USER not in audit[0][1]
    # Others' PII and the subject's ids stay.
    assert _vault_rows(conn, "user", "usr_other") == 2 and _vault_rows(conn, "client", CLIENT) == 4
    assert conn.execute("select count(*) from raw.users where user_id = ?", [USER]).fetchall()[0][0] == 1

    assert _columns_holding(conn, USER_PII) == []
    assert _files_holding(home, USER_PII) == {}
    conn.close()  # and once the warehouse and the vault are closed and checkpointed
    assert _files_holding(home, USER_PII) == {}


def test_an_access_request_produces_a_package_whose_manifest_has_each_files_sha256(settings, conn):
    _load_subjects(settings, conn)
    _create_marts(conn)

    request_id = _file_and_process(settings, conn, "access", "user", USER)

    status = _status(conn, request_id)
    folder = settings.exports_dir / request_id
    assert (status["status"], status["outcome"], status["export_path"]) == ("completed", "exported", str(folder))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["request_id"], manifest["subject_type"], manifest["subject_id"]) == (request_id, "user", USER)
    names = {f["name"] for f in manifest["files"]}
    assert names == {f"{part}.{ext}" for part in ("personal_data", "profile", "usage_logs", "statements")
                     for ext in ("json", "csv")}
    assert names | {"manifest.json"} == {p.name for p in folder.iterdir()}
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    personal = json.loads((folder / "personal_data.json").read_text(encoding="utf-8"))
    assert {row["value"] for row in personal} >= set(USER_PII) | {"zyxie-the-coach"}
    assert all(row["value"] not in CLIENT_PII + OTHER_PII for row in personal)
    logs = json.loads((folder / "usage_logs.json").read_text(encoding="utf-8"))
    assert [(row["usage_log_id"], row["cost_usd"]) for row in logs] == [("log1", "0.009000")]  # exact, a string
    statements = json.loads((folder / "statements.json").read_text(encoding="utf-8"))
    assert [row["total_usd"] for row in statements] == ["29.999000"]
    profile = pl.read_csv(folder / "profile.csv")
    assert profile["stream"].to_list() == ["users", "coach_profiles"]
    assert not set(profile.columns) & {"email", "name", "phone", "bio", "display_name", "public_email"}
    audit = conn.execute("select entity_id, counts from audit.audit_logs where operation = 'gdpr_export'").fetchall()
    assert audit[0][0] == pseudonym(load_key(settings), "user", USER)
    assert json.loads(audit[0][1])["usage_logs"] == 1


def test_a_client_package_holds_the_clients_logs_and_no_statements(settings, conn):
    _load_subjects(settings, conn)
    _create_marts(conn)

    request_id = _file_and_process(settings, conn, "portability", "client", CLIENT)

    folder = settings.exports_dir / request_id
    assert json.loads((folder / "statements.json").read_text()) == []
    assert [r["usage_log_id"] for r in json.loads((folder / "usage_logs.json").read_text())] == ["log1"]
    assert {r["value"] for r in json.loads((folder / "personal_data.json").read_text())} == set(CLIENT_PII)


@pytest.mark.parametrize("chunk", [100, 2])  # all three read at once, or in two reads
def test_requests_processed_together_each_get_only_their_own_subjects_usage_logs(settings, conn, monkeypatch, chunk):
    monkeypatch.setattr(processing, "EXPORT_USAGE_CHUNK", chunk)
    _load_subjects(settings, conn)
    _create_marts(conn)
    conn.execute("insert into marts.usage_logs values ('log3', 'usr_other', null, 0.2, '2026-09-05 09:00:00+00')")
    ids = {
        name: file_request(settings, request_type, subject_type, subject_id, "asked by the data subject", "dpo")
        for name, request_type, subject_type, subject_id in (
            ("user", "access", "user", USER), ("client", "portability", "client", CLIENT),
            ("other", "access", "user", "usr_other"),
        )
    }
    ingest_landing(settings, conn)

    process_exports(settings, conn, run_id="run-1")

    def logs(name: str) -> list[str]:
        rows = json.loads((settings.exports_dir / ids[name] / "usage_logs.json").read_text(encoding="utf-8"))
        return [row["usage_log_id"] for row in rows]

    assert (logs("user"), logs("client"), logs("other")) == (["log1"], ["log1"], ["log3", "log2"])


def test_an_erasure_after_an_access_request_deletes_that_package(settings, conn, home):
    _load_subjects(settings, conn)
    access_id = _file_and_process(settings, conn, "access", "user", USER)
    assert (settings.exports_dir / access_id / "personal_data.json").exists()

    erasure_id = _file_and_process(settings, conn, "erasure", "user", USER)

    assert not (settings.exports_dir / access_id).exists()
    assert _status(conn, erasure_id)["status"] == "completed"
    assert conn.execute("select exports_deleted from governance.erasures").fetchall() == [(1,)]
    assert _files_holding(home, USER_PII) == {}


def test_a_request_for_an_unknown_subject_completes_as_no_data_held_and_is_audited(settings, conn):
    _load_subjects(settings, conn)

    erasure_id = _file_and_process(settings, conn, "erasure", "client", "cli_nobody")
    access_id = _file_and_process(settings, conn, "access", "user", "usr_nobody")

    for request_id in (erasure_id, access_id):
        status = _status(conn, request_id)
        assert (status["status"], status["outcome"], status["export_path"]) == ("completed", "no_data_held", None)
    assert not (settings.exports_dir / access_id).exists()
    assert conn.execute("select count(*) from governance.erasures").fetchall()[0][0] == 0
    audited = conn.execute(
        "select operation, entity_id, after_values->>'outcome' from audit.audit_logs "
        "where operation in ('gdpr_erasure', 'gdpr_export') order by sequence_number"
    ).fetchall()
    key = load_key(settings)
    assert audited == [("gdpr_erasure", pseudonym(key, "client", "cli_nobody"), "no_data_held"),
                       ("gdpr_export", pseudonym(key, "user", "usr_nobody"), "no_data_held")]


def test_an_erasure_failing_midway_is_left_failed_with_its_reason_and_the_next_run_completes_it(
    settings, conn, home, monkeypatch
):
    _load_subjects(settings, conn)

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full while rewriting")

    monkeypatch.setattr(erasure, "compact_vault", broken)
    request_id = _file_and_process(settings, conn, "erasure", "user", USER)

    status = _status(conn, request_id)
    assert (status["status"], status["completed_at"], status["attempts"]) == ("failed", None, 1)
    assert "compacting the vault file failed" in status["last_error"]
    assert not any(v in status["last_error"] for v in USER_PII)
    assert conn.execute("select count(*) from governance.erasures").fetchall()[0][0] == 0
    assert [r.request_id for r in pending_requests(conn)] == [request_id]
    # Deleted, not yet rewritten: the vault file (or its WAL) still holds the values.
    assert any(name.startswith("coachwh.vault.duckdb") for name in _files_holding(home, USER_PII))

    monkeypatch.undo()
    report = process_erasures(settings, conn, run_id="run-2")

    assert [(r.request_id, r.status, r.outcome) for r in report.results] == [(request_id, "completed", "erased")]
    status = _status(conn, request_id)
    assert (status["status"], status["attempts"], status["vault_rows_erased"]) == ("completed", 2, 8)
    assert status["last_error"] is None and status["completed_at"] is not None
    assert _files_holding(home, USER_PII) == {}
    outcomes = conn.execute(
        "select after_values->>'status', after_values->>'outcome' from audit.audit_logs "
        "where operation = 'gdpr_erasure' order by sequence_number"
    ).fetchall()
    assert outcomes == [("failed", None), (None, "erased")]


def test_pending_erasures_are_completed_with_one_rewrite_of_the_vault_file(settings, conn, home, monkeypatch):
    _load_subjects(settings, conn)
    rewrites = []
    rewrite = erasure.compact_vault

    def counted(*args, **kwargs):
        rewrites.append(args)
        return rewrite(*args, **kwargs)

    monkeypatch.setattr(erasure, "compact_vault", counted)
    user_request = file_request(settings, "erasure", "user", USER, "asked by the data subject", "dpo")
    client_request = file_request(settings, "erasure", "client", CLIENT, "asked by the client", "dpo")
    ingest_landing(settings, conn)

    report = process_erasures(settings, conn, run_id="run-1")

    assert sorted((r.request_id, r.status, r.outcome) for r in report.results) == sorted(
        [(user_request, "completed", "erased"), (client_request, "completed", "erased")]
    )
    assert len(rewrites) == 1
    assert _files_holding(home, USER_PII + CLIENT_PII) == {}
    assert _vault_rows(conn, "user", USER) == _vault_rows(conn, "client", CLIENT) == 0


def test_landing_files_still_holding_a_value_are_found_in_every_format(settings, conn):
    ensure_schema(conn)
    write_jsonl(settings.landing_dir, "users", "plain.jsonl", [{"name": "Zoë Quenby-Ünique"}])
    write_jsonl(settings.landing_dir, "clients", "packed.jsonl.gz", [{"email": "packed@example.org"}], gz=True)
    (settings.landing_dir / "coach_profiles").mkdir()
    pl.DataFrame({"phone": ["+44 7700 900999"]}).write_parquet(settings.landing_dir / "coach_profiles" / "p.parquet")
    write_jsonl(settings.landing_dir, "transcription_events", "e.jsonl", [{"note": "packed@example.org"}])
    write_jsonl(settings.landing_dir, "users", "clean.jsonl", [{"name": "[redacted]"}])
    noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000))
    truncated = gzip.compress(f'{{"email": "trunc@example.org", "noise": "{noise}"}}'.encode(), mtime=0)
    (settings.landing_dir / "users" / "cut.jsonl.gz").write_bytes(truncated[: len(truncated) // 2])

    found = landing_files_holding(
        settings, conn, ["Zoë Quenby-Ünique", "packed@example.org", "+44 7700 900999", "trunc@example.org"]
    )

    # JSON escapes (ensure_ascii) are searched too; non-PII streams are not scanned.
    assert found == ["clients/packed.jsonl.gz", "coach_profiles/p.parquet", "users/cut.jsonl.gz", "users/plain.jsonl"]


def test_an_erasure_is_not_completed_while_a_landing_file_still_holds_the_subjects_pii(settings, conn):
    _load_subjects(settings, conn)
    request_id = file_request(settings, "erasure", "user", USER, "asked by the data subject", "dpo")
    ingest_landing(settings, conn)
    # A file delivered after this run's ingestion, not loaded (nor redacted) yet.
    write_jsonl(settings.landing_dir, "users", "users-2.jsonl", [{"note": f"again {USER_PII[1]}"}])

    process_erasures(settings, conn)

    status = _status(conn, request_id)
    assert status["status"] == "failed" and "users/users-2.jsonl" in status["last_error"]
    assert _vault_rows(conn, "user", USER) == 8  # nothing erased: the values are still needed to search


# -- Dagster assets ------------------------------------------------------------------------------


def test_the_assets_process_pending_requests_and_report_only_ids_and_outcomes(settings, conn):
    import dagster as dg

    from dagster_project.defs.governance.gdpr import gdpr_erasure, gdpr_exports
    from dagster_project.resources import WarehouseResource

    _load_subjects(settings, conn)
    erasure_id = file_request(settings, "erasure", "client", CLIENT, "asked by the data subject", "dpo")
    access_id = file_request(settings, "access", "user", USER, "asked by the data subject", "dpo")
    ingest_landing(settings, conn)
    conn.close()  # the assets open their own connection

    result = dg.materialize([gdpr_erasure, gdpr_exports], resources={"warehouse": WarehouseResource()})

    assert result.success
    metadata = {
        node: {k: v.value for k, v in m.metadata.items()}
        for node in ("governance__gdpr_erasure", "governance__gdpr_exports")
        for m in result.asset_materializations_for_node(node)
    }
    assert metadata["governance__gdpr_erasure"]["completed"] == 1
    assert metadata["governance__gdpr_exports"]["outcomes"] == {"exported": 1}
    assert CLIENT not in json.dumps(metadata) and USER not in json.dumps(metadata)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as check:
        statuses = check.execute("select request_id, status from governance.gdpr_request_status order by 1").fetchall()
    assert sorted(statuses) == sorted([(erasure_id, "completed"), (access_id, "completed")])
