"""A crash mid-batch leaves nothing half-loaded; the next run loads everything exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dagster_project.ingestion import ingest_landing
from dagster_project.warehouse import open_connection
from tests.conftest import event, write_jsonl


class Boom(RuntimeError):
    pass


def _tables(conn) -> tuple[int, int, int, int]:
    return conn.execute(
        "select (select count(*) from raw.transcription_events), (select count(*) from raw.clients),"
        " (select count(*) from vault.pii), (select count(*) from raw.ingested_files)"
    ).fetchall()[0]


def _landing(settings) -> None:
    write_jsonl(settings.landing_dir, "transcription_events", "d1.jsonl", [event(f"e{i}") for i in range(50)])
    write_jsonl(settings.landing_dir, "clients", "c1.jsonl", [{
        "change_id": "ch1", "changed_at": "2026-09-01T00:00:00Z", "op": "insert", "client_id": "cli_1",
        "user_id": "usr_1", "name": "Crash Test", "email": "crash@example.org"}])


def test_a_failure_before_commit_leaves_nothing_and_a_rerun_loads_everything_once(settings, conn):
    _landing(settings)

    def fail(batch_id: int) -> None:
        raise Boom("simulated crash between the writes and the commit")

    with pytest.raises(Boom):
        ingest_landing(settings, conn, before_commit=fail)
    # The vault (its own file) committed first; the warehouse's writes rolled back whole, their
    # audit records with them (neither the change nor its record).
    assert _tables(conn) == (0, 0, 2, 0)
    assert conn.execute("select count(*) from audit.audit_logs").fetchall()[0][0] == 0

    # The rerun finds the vault rows of the crashed attempt and does not double them.
    ingest_landing(settings, conn)
    assert _tables(conn) == (50, 1, 2, 2)
    # Both: one ingest_file record per file, written with the rows it describes.
    assert conn.execute(
        "select count(*) from audit.audit_logs where operation = 'ingest_file'").fetchall()[0][0] == 2
    ingest_landing(settings, conn)
    assert _tables(conn) == (50, 1, 2, 2)


def test_a_killed_process_mid_batch_loses_and_doubles_nothing(settings):
    _landing(settings)
    # The child process writes a batch, then dies with SIGKILL before COMMIT.
    script = textwrap.dedent(
        """
        import os, signal
        from dagster_project.config import Settings
        from dagster_project.ingestion import ingest_landing
        from dagster_project.warehouse import open_connection
        settings = Settings.from_env()
        conn = open_connection(settings)
        ingest_landing(settings, conn, before_commit=lambda batch: os.kill(os.getpid(), signal.SIGKILL))
        """
    )
    child = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()

    conn = open_connection(settings)
    try:
        assert _tables(conn)[:2] == (0, 0)
        assert _tables(conn)[3] == 0
        ingest_landing(settings, conn)
        assert _tables(conn) == (50, 1, 2, 2)
    finally:
        conn.close()
