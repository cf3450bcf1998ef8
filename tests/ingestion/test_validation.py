"""Each kind of bad input of spec §2.5 gets its own machine-readable reason; the rest loads."""

from __future__ import annotations

import polars as pl
import pytest

from dagster_project.ingestion import ingest_landing
from tests.conftest import event, write_jsonl


def _quarantine(conn) -> dict[int, str]:
    return dict(conn.execute("select line_number, reason from raw.quarantine where line_number is not null").fetchall())


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"event_id": "e9", "event_type": ', "malformed_json"),
        ("[1, 2, 3]", "not_a_json_object"),
        (event("e9", user_id=None), "missing_required_field:user_id"),
        (event("e9", duration_seconds="ninety"), "wrong_type:duration_seconds"),
        (event("e9", stt_provider="azure"), "not_in_enum:stt_provider"),
        (event("e9", duration_seconds=-5), "below_minimum:duration_seconds"),
        (event("e9", occurred_at="2026-09-01T10:00:00"), "naive_timestamp:occurred_at"),
        (event("e9", occurred_at="yesterday at noon"), "invalid_timestamp:occurred_at"),
        (event("e9", user_id="u" * 65), "length_out_of_range:user_id"),
        (event("e9", event_type="transcription_failed", error_code=None), "missing_required_field:error_code"),
        (event("e9", duration_seconds=None), "missing_required_field:duration_seconds"),
    ],
)
def test_each_kind_of_bad_record_gets_its_own_reason(settings, conn, bad_line, reason):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1"), bad_line, event("e2")])

    report = ingest_landing(settings, conn)

    assert _quarantine(conn) == {2: reason}
    assert [r[0] for r in conn.execute("select event_id from raw.transcription_events order by 1").fetchall()] == ["e1", "e2"]
    (result,) = report.files
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)


def test_a_record_breaking_several_rules_lists_every_reason(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl",
                [event("e1", stt_provider="azure", duration_seconds=-1, session_id=None)])
    ingest_landing(settings, conn)
    reasons = set(_quarantine(conn)[1].split(";"))
    assert reasons == {"not_in_enum:stt_provider", "below_minimum:duration_seconds", "missing_required_field:session_id"}


def test_the_raw_text_of_a_rejected_line_is_kept_verbatim(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", ['{"event_id": "e1", oops'])
    ingest_landing(settings, conn)
    assert conn.execute("select raw_text, stream, file from raw.quarantine").fetchall() == [
        ('{"event_id": "e1", oops', "transcription_events", "transcription_events/d1.jsonl")
    ]


def test_an_unknown_extra_field_is_kept_and_counted_not_fatal(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl",
                [event("e1", sdk_version="2.3.1", device={"os": "ios"}), event("e2")])
    report = ingest_landing(settings, conn)
    rows = conn.execute("select event_id, _extra_fields::varchar from raw.transcription_events order by 1").fetchall()
    assert rows == [("e1", '{"sdk_version":"2.3.1","device":{"os":"ios"}}'), ("e2", None)]
    assert report.files[0].extra_field_rows == 1


def test_timestamps_with_offsets_are_stored_in_utc(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl",
                [event("e1", occurred_at="2026-10-01T07:30:00+08:00"), event("e2", occurred_at="2026-09-30T23:30:00Z")])
    ingest_landing(settings, conn)
    rows = conn.execute("select event_id, strftime(occurred_at, '%Y-%m-%d %H:%M') from raw.transcription_events order by 1").fetchall()
    assert rows == [("e1", "2026-09-30 23:30"), ("e2", "2026-09-30 23:30")]


def test_a_corrupt_gzip_file_is_quarantined_whole_and_the_run_goes_on(settings, conn):
    (settings.landing_dir / "transcription_events").mkdir()
    (settings.landing_dir / "transcription_events" / "bad.jsonl.gz").write_bytes(b"\x1f\x8b\x08not really gzip")
    write_jsonl(settings.landing_dir, "transcription_events", "good.jsonl", [event("e1")])

    report = ingest_landing(settings, conn)

    statuses = {f.file_path: f.status for f in report.files}
    assert statuses == {"transcription_events/bad.jsonl.gz": "rejected", "transcription_events/good.jsonl": "loaded"}
    (reason,) = conn.execute("select reason from raw.quarantine where line_number is null").fetchall()[0]
    assert reason.startswith("corrupt_file:bad gzip")


def test_a_corrupt_parquet_file_is_quarantined_whole(settings, conn):
    (settings.landing_dir / "transcription_events").mkdir()
    (settings.landing_dir / "transcription_events" / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    ingest_landing(settings, conn)
    (reason,) = conn.execute("select reason from raw.quarantine").fetchall()[0]
    assert reason.startswith("corrupt_file:bad parquet")


def test_parquet_records_are_validated_like_json_lines(settings, conn):
    folder = settings.landing_dir / "transcription_events"
    folder.mkdir()
    frame = pl.DataFrame([event("e1"), event("e2", stt_provider="azure"), event("e3", occurred_at="2026-09-01T10:00:00")])
    frame.write_parquet(folder / "d1.parquet")
    ingest_landing(settings, conn)
    assert _quarantine(conn) == {2: "not_in_enum:stt_provider", 3: "naive_timestamp:occurred_at"}


def test_parquet_typed_utc_timestamps_are_accepted_and_naive_ones_rejected(settings, conn):
    from datetime import datetime

    folder = settings.landing_dir / "transcription_events"
    folder.mkdir()
    base = {k: v for k, v in event("x").items() if k != "occurred_at"}
    aware = pl.DataFrame([{**base, "event_id": "e1"}]).with_columns(
        occurred_at=pl.lit(datetime(2026, 9, 1, 10)).cast(pl.Datetime("us", "UTC")))
    naive = pl.DataFrame([{**base, "event_id": "e2"}]).with_columns(
        occurred_at=pl.lit(datetime(2026, 9, 1, 10)).cast(pl.Datetime("us")))
    aware.write_parquet(folder / "a.parquet")
    naive.write_parquet(folder / "b.parquet")
    ingest_landing(settings, conn)
    assert conn.execute("select event_id from raw.transcription_events").fetchall() == [("e1",)]
    assert conn.execute("select file, reason from raw.quarantine").fetchall() == [
        ("transcription_events/b.parquet", "naive_timestamp:occurred_at")
    ]


def test_pii_fields_go_to_the_vault_and_never_to_raw(settings, conn):
    write_jsonl(settings.landing_dir, "clients", "2026-09.jsonl", [{
        "change_id": "ch1", "changed_at": "2026-09-01T00:00:00Z", "op": "insert", "client_id": "cli_1",
        "user_id": "usr_1", "name": "Zelda Quux", "email": "zelda@example.org", "phone": "+1 555 0100",
        "memo": "talked about burnout", "is_active": True,
    }])
    ingest_landing(settings, conn)
    raw_columns = {c for (c,) in conn.execute(
        "select column_name from information_schema.columns where table_schema='raw' and table_name='clients'").fetchall()}
    assert not raw_columns & {"name", "email", "phone", "memo"}
    vault = conn.execute("select subject_type, subject_id, field, value from vault.pii order by field").fetchall()
    assert vault == [
        ("client", "cli_1", "email", "zelda@example.org"),
        ("client", "cli_1", "memo", "talked about burnout"),
        ("client", "cli_1", "name", "Zelda Quux"),
        ("client", "cli_1", "phone", "+1 555 0100"),
    ]


def test_a_file_in_an_unknown_stream_folder_is_quarantined_not_ignored(settings, conn):
    write_jsonl(settings.landing_dir, "invoices", "x.jsonl", [{"id": 1}])
    ingest_landing(settings, conn)
    assert conn.execute("select stream, reason from raw.quarantine").fetchall() == [
        ("invoices", "unknown_stream:no data contract for 'invoices'")
    ]


def test_changing_a_contract_changes_validation(settings, conn, tmp_path, monkeypatch):
    import shutil

    from dagster_project import contracts

    contracts_dir = tmp_path / "contracts"
    shutil.copytree(contracts.CONTRACTS_DIR, contracts_dir)
    path = contracts_dir / "transcription_events.odcs.yaml"
    path.write_text(path.read_text().replace("enum: [google, assemblyai]", "enum: [google, assemblyai, azure]"))
    monkeypatch.setenv("COACHWH_CONTRACTS_DIR", str(contracts_dir))
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1", stt_provider="azure")])

    ingest_landing(settings, conn)

    assert conn.execute("select stt_provider from raw.transcription_events").fetchall() == [("azure",)]


def test_a_line_that_is_not_utf8_is_quarantined_and_its_neighbours_load(settings, conn):
    import json

    folder = settings.landing_dir / "transcription_events"
    folder.mkdir()
    lines = [json.dumps(event("e1")).encode(), b'{"event_id": "e9", "note": "caf\xe9"}', json.dumps(event("e2")).encode()]
    (folder / "latin1.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    (result,) = ingest_landing(settings, conn).files

    assert _quarantine(conn) == {2: "invalid_utf8"}
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
