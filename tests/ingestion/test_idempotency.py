"""Files delivered twice, records delivered in several files, and conflicting re-deliveries."""

from __future__ import annotations

import shutil

from dagster_project.ingestion import ingest_landing
from tests.conftest import event, write_jsonl


def _count(conn, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchall()[0][0]


def test_running_again_with_no_new_files_changes_nothing(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1"), event("e2")])
    ingest_landing(settings, conn)
    before = conn.execute("select * from raw.transcription_events order by event_id").fetchall()

    report = ingest_landing(settings, conn)

    assert report.files == []
    assert conn.execute("select * from raw.transcription_events order by event_id").fetchall() == before
    assert _count(conn, "raw.ingested_files") == 1


def test_the_same_file_delivered_twice_loads_once(settings, conn):
    path = write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1"), event("e2")])
    shutil.copy(path, path.with_name("d1.redelivered.jsonl"))

    report = ingest_landing(settings, conn)

    assert _count(conn, "raw.transcription_events") == 2
    by_file = {f.file_path: (f.rows_loaded, f.rows_duplicate) for f in report.files}
    assert by_file == {"transcription_events/d1.jsonl": (2, 0), "transcription_events/d1.redelivered.jsonl": (0, 2)}


def test_the_same_record_in_two_files_across_runs_is_a_duplicate(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1")])
    ingest_landing(settings, conn)
    write_jsonl(settings.landing_dir, "transcription_events", "d2.jsonl", [event("e1"), event("e2")])

    report = ingest_landing(settings, conn)

    assert _count(conn, "raw.transcription_events") == 2
    (result,) = report.files
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_quarantined) == (2, 1, 1, 0)


def test_the_same_instant_written_with_another_offset_is_still_a_duplicate(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl",
                [event("e1", occurred_at="2026-09-01T10:00:00Z"), event("e1", occurred_at="2026-09-01T18:00:00+08:00")])
    report = ingest_landing(settings, conn)
    assert (report.files[0].rows_loaded, report.files[0].rows_duplicate) == (1, 1)


def test_a_conflicting_duplicate_is_quarantined_and_the_first_delivery_kept(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1", duration_seconds=90)])
    ingest_landing(settings, conn)
    write_jsonl(settings.landing_dir, "transcription_events", "d2.jsonl", [event("e1", duration_seconds=95)])

    ingest_landing(settings, conn)

    assert conn.execute("select duration_seconds::int from raw.transcription_events").fetchall() == [(90,)]
    assert conn.execute("select file, line_number, reason from raw.quarantine").fetchall() == [
        ("transcription_events/d2.jsonl", 1, "conflicting_duplicate:e1")
    ]


def test_a_redelivered_file_with_new_content_under_the_same_name_is_loaded(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1")])
    ingest_landing(settings, conn)
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event("e1"), event("e2")])

    report = ingest_landing(settings, conn)

    assert (report.files[0].rows_loaded, report.files[0].rows_duplicate) == (1, 1)
    assert _count(conn, "raw.transcription_events") == 2


def test_every_file_reconciles_read_with_loaded_duplicates_and_quarantined(settings, conn):
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl",
                [event("e1"), event("e1"), "not json", event("e2", duration_seconds=-1), event("e1", duration_seconds=7)])
    ingest_landing(settings, conn)
    (read, loaded, dup, quarantined) = conn.execute(
        "select rows_read, rows_loaded, rows_duplicate, rows_quarantined from raw.ingested_files").fetchall()[0]
    assert (read, loaded, dup, quarantined) == (5, 1, 1, 3)
    assert _count(conn, "raw.quarantine") == 3
