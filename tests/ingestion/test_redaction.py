"""Landing files of PII streams keep no PII once loaded; quarantined PII text lives in the vault only."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from dagster_project.ingestion import ingest_landing
from tests.conftest import write_jsonl

PII_NAME = "Quillon Brevard"
PII_EMAIL = "quillon.brevard@example.net"


def _client(change_id: str, **extra) -> dict:
    return {"change_id": change_id, "changed_at": "2026-09-01T00:00:00Z", "op": "insert", "client_id": "cli_9",
            "user_id": "usr_9", "name": PII_NAME, "email": PII_EMAIL, **extra}


def test_a_loaded_pii_file_is_rewritten_without_its_pii_and_is_not_loaded_again(settings, conn):
    path = write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [
        _client("ch1", favourite_colour="teal"),
        '{"change_id": "ch2", "name": "' + PII_NAME + '", broken',
    ])
    report = ingest_landing(settings, conn)
    assert [r.values_redacted for r in report.redacted] == [4]
    text = path.read_text(encoding="utf-8")
    assert PII_NAME not in text and PII_EMAIL not in text and "teal" not in text
    assert len(text.splitlines()) == 2  # line numbers still point at the same records

    again = ingest_landing(settings, conn)
    assert again.files == [] and again.redacted == []
    assert conn.execute("select count(*) from raw.clients").fetchall()[0][0] == 1


def test_gzip_and_parquet_files_of_pii_streams_are_redacted_too(settings, conn):
    gz = write_jsonl(settings.landing_dir, "clients", "c1.jsonl.gz", [_client("ch1")], gz=True)
    parquet = settings.landing_dir / "users" / "u1.parquet"
    parquet.parent.mkdir(parents=True)
    pl.DataFrame({"change_id": ["u1"], "changed_at": ["2026-09-01T00:00:00Z"], "op": ["insert"], "user_id": ["usr_9"],
                  "plan": ["free"], "role": ["user"], "email": [PII_EMAIL], "name": [PII_NAME],
                  "created_at": ["2026-09-01T00:00:00Z"]}).write_parquet(parquet)
    ingest_landing(settings, conn)
    assert PII_EMAIL not in gzip.decompress(gz.read_bytes()).decode()
    frame = pl.read_parquet(parquet)
    assert frame["email"].to_list() == ["[redacted]"] and frame["user_id"].to_list() == ["usr_9"]
    assert conn.execute("select count(*) from vault.pii where value = ?", [PII_EMAIL]).fetchall()[0][0] == 2


def test_quarantined_lines_and_extra_fields_of_pii_streams_are_kept_in_the_vault_not_in_raw(settings, conn):
    write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [
        _client("ch1", nickname="Quilly"),
        _client("ch2", op="upsert"),
    ])
    ingest_landing(settings, conn)
    raw_text, reason = conn.execute("select raw_text, reason from raw.quarantine").fetchall()[0]
    assert raw_text is None and reason == "not_in_enum:op"
    vault_text = conn.execute("select raw_text from vault.quarantine_text").fetchall()[0][0]
    assert PII_NAME in vault_text
    assert conn.execute("select _extra_fields from raw.clients").fetchall()[0][0] is None
    assert "Quilly" in conn.execute("select extra_json from vault.extra_fields").fetchall()[0][0]


def test_a_crash_between_recording_and_replacing_a_redacted_file_is_mended_by_the_next_run(settings, conn,
                                                                                           monkeypatch):
    from dagster_project.ingestion import redaction

    path = write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [_client("ch1")])

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(redaction.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        ingest_landing(settings, conn)
    assert PII_EMAIL in path.read_text(encoding="utf-8")
    monkeypatch.undo()

    again = ingest_landing(settings, conn)
    assert again.files == [] and [r.file_path for r in again.redacted] == ["clients/c1.jsonl"]
    assert PII_EMAIL not in path.read_text(encoding="utf-8")
    assert ingest_landing(settings, conn).files == []
    assert conn.execute("select count(*) from raw.redacted_files").fetchall()[0][0] == 1
    assert conn.execute("select count(*) from raw.clients").fetchall()[0][0] == 1


def test_loading_a_file_writes_its_ingest_and_quarantine_audit_records(settings, conn):
    from dagster_project.audit.trail import verify

    write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [_client("ch1"), _client("ch2", op="upsert")])
    ingest_landing(settings, conn, run_id="run-1", actor="tester")
    rows = conn.execute(
        "select operation, entity_id, counts->>'loaded', counts->>'not_in_enum', run_id, actor "
        "from audit.audit_logs order by sequence_number"
    ).fetchall()
    assert rows == [
        ("ingest_file", "clients/c1.jsonl", "1", None, "run-1", "tester"),
        ("quarantine", "clients/c1.jsonl", None, "1", "run-1", "tester"),
        ("redact_landing_file", "clients/c1.jsonl", None, None, "run-1", "tester"),
    ]
    assert verify(conn).ok


def test_a_failed_run_leaves_no_half_made_redacted_copies_in_the_landing_zone(settings, conn):
    # clients (a PII stream) loads first and its redaction starts in the background; the later
    # transcription_events batch then fails before its commit.
    write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [_client("ch1")])
    write_jsonl(settings.landing_dir, "transcription_events", "e1.jsonl", [
        {"event_id": "e1", "event_type": "transcription_started", "occurred_at": "2026-09-01T00:00:00Z",
         "attempt_id": "a1", "session_id": "s1", "user_id": "usr_9", "stt_provider": "google"}])
    batches: list[int] = []

    def crash_on_second_batch(batch_id: int) -> None:
        batches.append(batch_id)
        if len(batches) == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_landing(settings, conn, before_commit=crash_on_second_batch)
    leftovers = sorted(p.name for p in settings.landing_dir.rglob(".*"))
    assert leftovers == []
    report = ingest_landing(settings, conn)
    assert [r.file_path for r in report.redacted] == ["clients/c1.jsonl"]


def test_a_redaction_prepared_before_the_file_was_touched_is_made_again_from_the_file(settings, conn):
    import os
    from concurrent.futures import ThreadPoolExecutor

    from dagster_project.ingestion.redaction import redact_loaded_files, start_redactions

    path = write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [_client("ch1")])
    # Load without redacting, as if the run stopped right after the commit.
    from dagster_project.ingestion import loader

    original = loader.redact_loaded_files
    loader.redact_loaded_files = lambda *a, **k: []
    try:
        ingest_landing(settings, conn)
    finally:
        loader.redact_loaded_files = original
    with ThreadPoolExecutor(max_workers=1) as pool:
        prepared = start_redactions(settings, conn, "clients", pool)
        [future] = prepared.values()
        stale = future.result()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same content, new identity
        results = redact_loaded_files(settings, conn, prepared=prepared)
    assert [r.values_redacted for r in results] == [2]
    assert not stale.temp.exists() and PII_EMAIL not in path.read_text(encoding="utf-8")
    recorded = conn.execute("select size_bytes, mtime_ns from raw.redacted_files").fetchall()
    assert recorded == [(path.stat().st_size, path.stat().st_mtime_ns)]


def test_lines_only_the_reference_parser_reads_are_redacted_not_marked_unparseable(settings):
    from dagster_project.contracts import load_contracts
    from dagster_project.ingestion.redaction import UNPARSEABLE_LINE, redact_jsonl_text

    contract = load_contracts()["clients"]
    # orjson refuses integers beyond 64 bits and NaN; json reads both.
    big = '{"change_id": "ch1", "email": "' + PII_EMAIL + '", "n": 123456789012345678901234567890}'
    nan = '{"change_id": "ch2", "email": "' + PII_EMAIL + '", "x": NaN}'
    text, count = redact_jsonl_text(big + "\n" + nan + "\nnot json\n", contract)
    lines = text.split("\n")
    assert count == 5 and PII_EMAIL not in text
    import json

    assert json.loads(lines[0]) == {"change_id": "ch1", "email": "[redacted]", "n": "[redacted]"}
    assert json.loads(lines[1]) == {"change_id": "ch2", "email": "[redacted]", "x": "[redacted]"}
    assert lines[2] == UNPARSEABLE_LINE
