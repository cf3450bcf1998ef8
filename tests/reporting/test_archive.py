"""Archives of closed billing months (docs/archive.md) on a small hand-made warehouse.

One warehouse is built once with dbt: September closes as of 2026-10-10; a late September
completion then arrives and is booked as an adjustment into October, which closes as of
2026-11-05. The vault holds the coaches' emails and names. Each test archives a copy of it in its
own COACHWH_HOME, through the same CLI a user runs (in-process) or the Dagster asset.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dagster_project.audit.trail import verify
from dagster_project.billing.close import close_through
from dagster_project.cli import main
from dagster_project.config import Settings
from dagster_project.governance.pii_scan import protected_column_names
from dagster_project.reporting import archive as archive_module
from dagster_project.reporting.archive import TABLES, archive_month
from dagster_project.warehouse import connection, ensure_schema
from tests.dbt.test_usage_models import dbt_build, event, insert_raw, user_change

SEP, OCT = date(2026, 9, 1), date(2026, 10, 1)
FILES = ("usage_logs.parquet", "billing_statements.parquet", "billing_adjustments.parquet")

USERS = [
    user_change("u1-1", "2026-08-01T00:00:00+00:00", "insert", "u1", "pro"),
    user_change("u2-1", "2026-08-01T00:00:00+00:00", "insert", "u2", "free"),
    user_change("u3-1", "2026-08-01T00:00:00+00:00", "insert", "u3", "student"),
]
EVENTS = [
    event("e1", "completed", "2026-09-10T10:00:00+00:00", "a1", "s1", "u1", "c1", "google", 90),
    event("e2", "completed", "2026-09-20T10:00:00+00:00", "a2", "s2", "u2", "c2", "assemblyai", 3),
    # a failure and its free retry in September
    event("e3", "failed", "2026-09-21T10:00:00+00:00", "a3", "s3", "u2", "c2", "google", error_code="timeout"),
    event("e4", "completed", "2026-09-21T11:00:00+00:00", "a4", "s3", "u2", "c2", "google", 120),
    event("e5", "completed", "2026-10-05T10:00:00+00:00", "a5", "s5", "u1", "c1", "google", 60),
    # the last instant of October (UTC) is October's; the first of November is not
    event("e6", "completed", "2026-10-31T23:59:59+00:00", "a6", "s6", "u3", "c3", "google", 30),
    event("e7", "completed", "2026-11-01T00:00:00+00:00", "a7", "s7", "u3", "c3", "google", 30),
]
LATE_SEPTEMBER = [event("e8", "completed", "2026-09-25T10:00:00+00:00", "a8", "s8", "u1", "c1", "google", 600)]
# What the platform sent as PII: in the vault only, never in an archive.
VAULT = [("user", "u1", "email", "lea.archive@example.org"), ("user", "u1", "name", "Lea Archivist"),
         ("user", "u2", "email", "bo.archive@example.org"), ("client", "c1", "name", "Cleo Coachee")]


def _connect(home: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(home / "coachwh.duckdb"))
    conn.execute("set TimeZone = 'UTC'")
    conn.execute(f"attach '{home / 'coachwh.vault.duckdb'}' as vault")
    return conn


def _as_of(text: str) -> tuple[str, str]:
    return "--vars", json.dumps({"as_of": text})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template warehouse: September and October closed, an adjustment booked into October."""
    work = tmp_path_factory.mktemp("archive")
    home = work / "home"
    home.mkdir()
    conn = _connect(home)
    ensure_schema(conn)
    insert_raw(conn, "users", 1, USERS)
    insert_raw(conn, "transcription_events", 2, EVENTS)
    for subject_type, subject_id, field, value in VAULT:
        conn.execute("insert into vault.pii values (?, ?, ?, ?, 'pii', 'users', 'x', 'users/x.jsonl', null, 1, "
                     "current_timestamp)", [subject_type, subject_id, field, value])
    conn.close()
    dbt_build(home / "coachwh.duckdb", work, *_as_of("2026-10-10T00:00:00+00:00"))
    conn = _connect(home)
    close_through(conn, SEP, datetime(2026, 10, 10, tzinfo=UTC), 3, "test")
    insert_raw(conn, "transcription_events", 3, LATE_SEPTEMBER)
    conn.close()
    dbt_build(home / "coachwh.duckdb", work, *_as_of("2026-11-05T00:00:00+00:00"))
    conn = _connect(home)
    close_through(conn, OCT, datetime(2026, 11, 5, tzinfo=UTC), 3, "test")
    conn.close()
    return home


@pytest.fixture
def settings(built: Path, home: Path) -> Settings:
    """A copy of the template warehouse in this test's own COACHWH_HOME."""
    for name in ("coachwh.duckdb", "coachwh.vault.duckdb"):
        shutil.copy(built / name, home / name)
    return Settings.from_env()


def _query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with connection(settings, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def _manifest(settings: Settings, month: str) -> dict:
    return json.loads((settings.archive_dir / month / "manifest.json").read_text())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archive(month: str, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, str, str]:
    code = main(["archive", "--month", month, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def _verify(capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, list[str]]:
    code = main(["archive", "verify", *extra])
    return code, capsys.readouterr().out.splitlines()


def test_archiving_a_closed_month_writes_its_parquet_files_and_a_manifest_with_their_hashes_and_counts(settings, capsys):
    code, out, _ = _archive("2026-10", capsys)

    assert code == 0 and out.startswith("archived 2026-10 to ")
    folder = settings.archive_dir / "2026-10"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "manifest.json"])
    manifest = _manifest(settings, "2026-10")
    assert manifest["billing_month"] == "2026-10"
    assert [f["name"] for f in manifest["files"]] == list(FILES)
    for entry in manifest["files"]:
        path = folder / entry["name"]
        assert entry["sha256"] == _sha256(path)
        assert entry["rows"] == pq.ParquetFile(path).metadata.num_rows  # read by pyarrow, not DuckDB
    # October's logs: completed in October (UTC), so not the one completed at November's first instant.
    attempts = pq.read_table(folder / "usage_logs.parquet", columns=["attempt_id"]).column(0).to_pylist()
    assert sorted(attempts) == ["a5", "a6"]
    # The adjustment booked into October: September's late completion.
    adjustments = pq.read_table(folder / "billing_adjustments.parquet").to_pylist()
    assert [(a["reason"], a["original_month"], a["applied_month"]) for a in adjustments] == [("late_usage", SEP, OCT)]
    (digest,) = _query(settings, "select month_digest from billing.closed_months where billing_month = ?", [OCT])[0]
    assert manifest["close"]["month_digest"] == digest
    assert manifest["date_range"]["min"] == "2026-10-05T10:00:00+00:00"
    assert manifest["date_range"]["max"] == "2026-10-31T23:59:59+00:00"
    assert manifest["code_version"] and manifest["created_at"]


def test_the_archived_money_sums_equal_the_warehouse_and_the_files_exactly(settings, capsys):
    assert _archive("2026-09", capsys)[0] == 0
    manifest = _manifest(settings, "2026-09")
    for table in TABLES:
        entry = next(f for f in manifest["files"] if f["name"] == table.file_name)
        sums = ", ".join(f"coalesce(sum({c}), 0)" for c in table.money_columns)
        warehouse = _query(settings, f"select {sums} from {table.relation} where {table.month_column} = ?", [SEP])[0]
        from_file = pq.read_table(settings.archive_dir / "2026-09" / table.file_name)
        for column, expected in zip(table.money_columns, warehouse, strict=True):
            assert Decimal(entry["sums"][column]) == expected, column
            assert (pc.sum(from_file[column]).as_py() or Decimal(0)) == expected, column
    # The usage logs hold the late September completion (0.06 USD) that the frozen statements do not.
    logs = next(f for f in manifest["files"] if f["name"] == "usage_logs.parquet")
    statements = next(f for f in manifest["files"] if f["name"] == "billing_statements.parquet")
    assert Decimal(logs["sums"]["cost_usd"]) - Decimal(statements["sums"]["usage_charges_usd"]) == Decimal("0.06")


def test_a_month_that_is_not_closed_is_refused_in_one_line_that_says_how_to_close_it(settings, capsys):
    code, out, err = _archive("2026-11", capsys)

    assert code == 2 and out == ""
    assert err == ("coachwh: error: 2026-11 is not closed, so it cannot be archived; close it first with "
                   "`coachwh billing close --month 2026-11`\n")
    assert not (settings.archive_dir / "2026-11").exists()


def test_archiving_an_unchanged_archived_month_again_is_a_no_op_that_says_so(settings, capsys):
    _archive("2026-10", capsys)
    folder = settings.archive_dir / "2026-10"
    before = {p.name: (p.stat().st_mtime_ns, _sha256(p)) for p in folder.iterdir()}

    code, out, _ = _archive("2026-10", capsys)

    assert code == 0
    assert "already archived" in out and "has not changed since: nothing to do" in out
    assert {p.name: (p.stat().st_mtime_ns, _sha256(p)) for p in folder.iterdir()} == before
    assert [p.name for p in settings.archive_dir.iterdir()] == ["2026-10"]  # no temp folder left


def test_each_archive_writes_one_audit_record_and_the_chain_still_verifies(settings, capsys):
    _archive("2026-09", capsys)
    _archive("2026-10", capsys)
    _archive("2026-10", capsys)  # a no-op: no record

    records = _query(settings, "select entity_type, entity_id, counts, after_values->>'manifest_sha256', reason "
                               "from audit.audit_logs where operation = 'archive_month' order by sequence_number")
    assert [(r[0], r[1]) for r in records] == [("billing_month", "2026-09"), ("billing_month", "2026-10")]
    for (_, month, counts, manifest_sha, reason) in records:
        assert manifest_sha == _sha256(settings.archive_dir / month / "manifest.json")
        assert json.loads(counts) == {f["name"].removesuffix(".parquet"): f["rows"]
                                      for f in _manifest(settings, month)["files"]}
        assert reason is None
    with connection(settings, read_only=True) as conn:
        assert verify(conn).ok


def test_verify_passes_on_intact_archives_and_names_a_tampered_parquet_file_with_exit_code_1(settings, capsys):
    _archive("2026-09", capsys)
    _archive("2026-10", capsys)
    assert _verify(capsys)[0] == 0

    path = settings.archive_dir / "2026-10" / "usage_logs.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, lines = _verify(capsys)

    assert code == 1
    assert lines[0].startswith("OK 2026-09: ")
    assert lines[1].startswith("MISMATCH 2026-10: usage_logs.parquet has sha256 ")
    assert lines[1].endswith("the file changed after it was archived")
    # Re-archiving refuses to overwrite it silently.
    code, _, err = _archive("2026-10", capsys)
    assert code == 2 and "--force --reason" in err and err.count("\n") == 1


def test_verify_catches_an_edited_manifest_against_the_audit_trail(settings, capsys):
    _archive("2026-10", capsys)
    path = settings.archive_dir / "2026-10" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][0]["rows"] += 1
    path.write_text(json.dumps(manifest, indent=2) + "\n")

    code, lines = _verify(capsys, "--month", "2026-10")

    assert code == 1
    assert lines == [f"MISMATCH 2026-10: manifest.json has sha256 {_sha256(path)} but the audit trail recorded "
                     f"{_recorded(settings, '2026-10')} for 2026-10: the manifest was edited or replaced after archiving"]


def _recorded(settings: Settings, month: str) -> str:
    return _query(settings, "select after_values->>'manifest_sha256' from audit.audit_logs "
                            "where operation = 'archive_month' and entity_id = ? order by sequence_number desc "
                            "limit 1", [month])[0][0]


def test_a_warehouse_that_changed_since_the_archive_fails_verify_and_needs_force_with_a_reason(settings, capsys):
    _archive("2026-10", capsys)
    first = _recorded(settings, "2026-10")
    with connection(settings) as conn:  # a restatement of one October log, sums unchanged
        conn.execute("update marts.usage_logs set language = 'de-DE' where attempt_id = 'a5'")

    code, lines = _verify(capsys)
    assert code == 1
    assert lines == ["MISMATCH 2026-10: usage_logs.parquet differs from marts.usage_logs for 2026-10: rows changed 1, "
                     "only in the warehouse 0, only in the file 0 (the warehouse changed since it was archived)"]
    code, _, err = _archive("2026-10", capsys)
    assert code == 2 and "rerun with --force --reason" in err
    assert _archive("2026-10", capsys, "--force")[0] == 2  # no reason, no rewrite

    code, out, _ = _archive("2026-10", capsys, "--force", "--reason", "late language fix")

    assert code == 0 and out.startswith("re-archived 2026-10")
    assert _verify(capsys)[0] == 0
    languages = pq.read_table(settings.archive_dir / "2026-10" / "usage_logs.parquet", columns=["language"])
    assert "de-DE" in languages.column(0).to_pylist()
    (reason, before, after) = _query(settings, "select reason, before_values->>'manifest_sha256', "
                                               "after_values->>'manifest_sha256' from audit.audit_logs "
                                               "where operation = 'archive_month' order by sequence_number")[-1]
    assert (reason, before) == ("late language fix", first)
    assert after == _sha256(settings.archive_dir / "2026-10" / "manifest.json") != first
    assert _manifest(settings, "2026-10")["reason"] == "late language fix"
    assert sorted(p.name for p in settings.archive_dir.iterdir()) == ["2026-10"]  # the old folder is gone


def test_archives_hold_no_pii_column_or_value_from_the_vault(settings, capsys):
    _archive("2026-09", capsys)
    _archive("2026-10", capsys)
    vault_values = {v for (_, _, _, v) in VAULT}
    assert _query(settings, "select count(*) from vault.pii")[0][0] == len(VAULT)
    protected = protected_column_names()
    assert {"email", "name"} <= protected
    for month in ("2026-09", "2026-10"):
        folder = settings.archive_dir / month
        for name in FILES:
            table = pq.read_table(folder / name)
            assert not set(table.column_names) & protected, name
            strings = {v for column in table.columns if column.type == "string" for v in column.to_pylist() if v}
            assert bool(strings) == bool(table.num_rows), name  # ids were scanned wherever there are rows
            assert not any(secret in text for text in strings for secret in vault_values), name
        manifest_text = (folder / "manifest.json").read_text()
        assert not any(secret in manifest_text for secret in vault_values)


def test_a_run_that_stopped_before_its_audit_record_is_reported_by_verify_and_completed_by_a_rerun(
    settings, capsys, monkeypatch
):
    def crash(*args, **kwargs):
        raise RuntimeError("killed before the audit record")

    with monkeypatch.context() as patch, connection(settings) as conn, pytest.raises(RuntimeError):
        patch.setattr(archive_module, "_record", crash)
        archive_month(conn, settings, OCT)
    code, lines = _verify(capsys)
    assert code == 1 and "no audit record of this archive" in lines[0] and "coachwh archive --month 2026-10" in lines[0]

    code, out, _ = _archive("2026-10", capsys)

    assert code == 0 and "its audit record was missing" in out
    assert _verify(capsys)[0] == 0
    assert _query(settings, "select count(*) from audit.audit_logs where operation = 'archive_month'")[0][0] == 1


def test_leftovers_of_an_interrupted_rewrite_are_undone_by_the_next_run(settings, capsys):
    _archive("2026-10", capsys)
    root = settings.archive_dir
    # Stopped between the two renames of a rewrite: the old folder aside, the new one still a temp folder.
    (root / "2026-10").rename(root / ".2026-10.replaced-20261201T000000000000")
    (root / ".2026-10.tmp-1-abcd").mkdir()
    (root / ".2026-10.tmp-1-abcd" / "usage_logs.parquet").write_bytes(b"half written")
    assert _verify(capsys) == (0, [f"no archived months in {root}; archive one with `coachwh archive --month YYYY-MM`"])

    code, out, _ = _archive("2026-10", capsys)

    assert code == 0 and "nothing to do" in out
    assert sorted(p.name for p in root.iterdir()) == ["2026-10"]
    assert _verify(capsys)[0] == 0


def test_the_monthly_asset_archives_the_month_and_earlier_closed_months_and_keeps_a_stale_archive(settings):
    import dagster as dg

    from dagster_project.defs.reporting.archive import monthly_archive
    from dagster_project.resources import WarehouseResource

    def materialize() -> dict:
        result = dg.materialize([monthly_archive], partition_key="2026-10-01",
                                resources={"warehouse": WarehouseResource()})
        assert result.success
        (event,) = result.asset_materializations_for_node("reporting__monthly_archive")
        return {k: v.value for k, v in event.metadata.items()}

    first = materialize()

    assert sorted(p.name for p in settings.archive_dir.iterdir()) == ["2026-09", "2026-10"]
    assert (first["status"], first["months_archived_by_this_run"]) == ("written", "2026-09, 2026-10")
    manifest = _manifest(settings, "2026-10")
    assert first["path"] == str(settings.archive_dir / "2026-10")
    assert first["usage_logs_rows"] == 2 and first["billing_adjustments_rows"] == 1
    assert first["usage_logs_sum_cost_usd"] == manifest["files"][0]["sums"]["cost_usd"]
    assert first["manifest_sha256"] == _sha256(settings.archive_dir / "2026-10" / "manifest.json")

    with connection(settings) as conn:  # late data after the archive: the schedule must not rewrite it
        conn.execute("update marts.usage_logs set cost_usd = cost_usd + 0.000001 where attempt_id = 'a5'")
    again = materialize()

    assert (again["status"], again["months_archived_by_this_run"]) == ("kept_stale", "none")
    assert "sums cost_usd" in again["difference"]
    assert _manifest(settings, "2026-10") == manifest
    assert _query(settings, "select count(*) from audit.audit_logs where operation = 'archive_month'")[0][0] == 2


def test_the_close_job_archives_each_month_after_closing_it_and_the_daily_build_does_not():
    from dagster_project.dbt_project import ensure_manifest

    ensure_manifest()
    from dagster_project.definitions import defs
    from dagster_project.defs.billing.assets import MONTHLY_CLOSE_KEY
    from dagster_project.defs.reporting.archive import MONTHLY_ARCHIVE_KEY

    # (The close job also runs dbt's source tests on the closed tables: they are checks of the close.)
    close_ops = {node.name for node in defs.resolve_job_def("billing_monthly_close").graph.nodes}
    assert {"billing__monthly_close", "reporting__monthly_archive"} <= close_ops
    build_ops = {node.name for node in defs.resolve_job_def("coachwh_build").graph.nodes}
    assert "reporting__monthly_archive" not in build_ops
    archive = defs.get_repository_def().asset_graph.get(MONTHLY_ARCHIVE_KEY)
    assert archive.group_name == "reporting" and MONTHLY_CLOSE_KEY in archive.parent_keys
