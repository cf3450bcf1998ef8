"""Archives of closed billing months: Parquet files plus a manifest, written once and verifiable.

`COACHWH_HOME/archive/<YYYY-MM>/` holds the month's usage logs, statements and adjustments as
Parquet and `manifest.json` (each file's rows, SHA-256 and money sums, the close's digest). The
CLI (`coachwh archive`) and the Dagster asset `reporting/monthly_archive` both call
`archive_month`; `verify_archives` re-checks archives against their manifest, the audit trail and
the warehouse. Everything row-sized happens in DuckDB (`copy ... to ... (format parquet)`, sums
and differences in SQL): no row is loaded into Python, so a 3M-log month exports in seconds.

What a month's archive holds (docs/archive.md), consistently with the close (docs/billing.md):
- usage logs: marts.usage_logs where usage_month = M, as the warehouse knows them when archived;
- statements: marts.billing_statements where billing_month = M (frozen by the close);
- adjustments: marts.billing_adjustments where applied_month = M, i.e. booked into M (final
  since M closed), not the corrections of M booked into later months.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb

from dagster_project.audit.trail import code_version, record
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.governance.pii_scan import protected_column_names
from dagster_project.ingestion.discovery import sha256_of
from dagster_project.warehouse import table_exists, transaction

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "coachwh-billing-month-archive/1"
OPERATION = "archive_month"
MONTH_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ArchivedTable:
    """One mart as archived: which rows (month_column = M), which columns, what is summed."""

    name: str
    relation: str
    month_column: str
    columns: tuple[str, ...]
    money_columns: tuple[str, ...]
    time_column: str
    key: str  # unique within a month: how changed rows are counted

    @property
    def file_name(self) -> str:
        return f"{self.name}.parquet"

    @property
    def order_by(self) -> str:
        return f"{self.time_column}, {self.key}"


# Explicit column lists, so that an archive's layout changes only when this code does. The marts
# carry ids, never PII (spec §4.2); `_guard_no_pii_columns` refuses a column a contract classifies
# pii/sensitive anyway. usage_logs leaves out its processing watermarks (source_batch_id,
# users_batch_id, computed_at): they change whenever a session is recomputed with the same
# content, which would make every archive look stale without any usage having changed.
TABLES: tuple[ArchivedTable, ...] = (
    ArchivedTable(
        "usage_logs", "marts.usage_logs", "usage_month",
        ("usage_log_id", "attempt_id", "session_id", "user_id", "client_id", "stt_provider", "language",
         "transcription_type", "is_billable", "billing_reason", "parent_usage_log_id", "attempt_sequence",
         "duration_seconds", "rate_per_minute_usd", "cost_usd", "provider_cost_usd", "is_provider_cost_estimated",
         "plan_at_usage", "transcription_started_at", "transcription_completed_at", "usage_month",
         "has_contradicting_outcome"),
        ("cost_usd", "provider_cost_usd"), "transcription_completed_at", "usage_log_id",
    ),
    ArchivedTable(
        "billing_statements", "marts.billing_statements", "billing_month",
        ("user_id", "billing_month", "plan", "subscription_fee_usd", "included_minutes", "billable_seconds",
         "billable_minutes", "minutes_over_quota", "usage_charges_usd", "adjustments_usd", "total_usd",
         "usage_log_count", "is_closed", "closed_at", "statement_digest"),
        ("subscription_fee_usd", "usage_charges_usd", "adjustments_usd", "total_usd"), "closed_at", "user_id",
    ),
    ArchivedTable(
        "billing_adjustments", "marts.billing_adjustments", "applied_month",
        ("adjustment_id", "user_id", "usage_log_id", "original_month", "applied_month", "reason",
         "delta_billable_seconds", "delta_usage_charges_usd", "created_at", "is_final"),
        ("delta_usage_charges_usd",), "created_at", "adjustment_id",
    ),
)

Status = Literal["written", "rewritten", "unchanged", "recorded", "kept_stale"]


@dataclass(frozen=True)
class FileSummary:
    name: str
    rows: int
    sums: dict[str, Decimal]


@dataclass(frozen=True)
class ArchiveResult:
    month: date
    status: Status
    path: Path
    manifest_sha256: str
    files: tuple[FileSummary, ...]
    seconds: float
    # What differed from the warehouse: why a rewrite happened, or why a stale archive was kept.
    difference: str | None = None

    def summary(self) -> str:
        label = f"{self.month:%Y-%m}"
        figures = "; ".join(
            f"{f.name} {f.rows} rows" + "".join(f", {col} {total:f}" for col, total in f.sums.items())
            for f in self.files
        )
        tail = f"manifest sha256 {self.manifest_sha256}"
        if self.status == "written":
            return f"archived {label} to {self.path} in {self.seconds:.1f} s: {figures}; {tail}"
        if self.status == "rewritten":
            return (f"re-archived {label} to {self.path} in {self.seconds:.1f} s: {figures}; {tail}; "
                    f"it differed: {self.difference}")
        if self.status == "recorded":
            return (f"{label} is already archived in {self.path} and matches the warehouse; its audit record was "
                    f"missing (an earlier run stopped before writing it) and is written now; {tail}")
        if self.status == "kept_stale":
            return (f"{label}'s archive in {self.path} was kept although it no longer matches: "
                    f"{self.difference}; rewrite it with `coachwh archive --month {label} --force --reason "
                    f"\"...\"`")
        return f"{label} is already archived in {self.path} and the warehouse has not changed since: nothing to do; {tail}"


@dataclass(frozen=True)
class VerifyResult:
    month: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'OK' if self.ok else 'MISMATCH'} {self.month}: {self.message}"


class _Mismatch(Exception):
    """An archive that does not match its manifest, the trail or the warehouse; the text says how."""


# --- paths and small helpers ------------------------------------------------------------------


def month_dir(settings: Settings, month: date) -> Path:
    return settings.archive_dir / f"{month:%Y-%m}"


def archived_months(settings: Settings) -> list[str]:
    """The YYYY-MM folders under the archive root (other archives, e.g. retention's, live beside)."""
    root = settings.archive_dir
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and MONTH_DIR.match(p.name))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _month_literal(month: date) -> str:
    return f"date '{month:%Y-%m-%d}'"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _warehouse_select(table: ArchivedTable, month: date) -> str:
    return f"select {', '.join(table.columns)} from {table.relation} where {table.month_column} = {_month_literal(month)}"


def _archive_select(table: ArchivedTable, path: Path) -> str:
    return f"select {', '.join(table.columns)} from read_parquet({_literal(str(path))})"


@dataclass(frozen=True)
class _Stats:
    rows: int
    time_min: datetime | None
    time_max: datetime | None
    sums: dict[str, Decimal]


def _stats(conn: duckdb.DuckDBPyConnection, table: ArchivedTable, select: str) -> _Stats:
    """Row count, time range and exact DECIMAL sums of `select`, computed by DuckDB."""
    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in table.money_columns)
    row = conn.execute(
        f"select count(*), min({table.time_column}), max({table.time_column}), {sums} from ({select}) as t"
    ).fetchall()[0]
    return _Stats(row[0], row[1], row[2], dict(zip(table.money_columns, row[3:], strict=True)))


def _guard_no_pii_columns() -> None:
    """Refuse to archive a column that a data contract classifies pii or sensitive (spec §4.2)."""
    leaked = sorted({c for t in TABLES for c in t.columns} & protected_column_names())
    if leaked:
        raise CoachwhError(f"the archive's column list names PII fields ({', '.join(leaked)}); remove them from "
                           f"dagster_project/reporting/archive.py")


def _close_of(conn: duckdb.DuckDBPyConnection, month: date) -> dict[str, Any] | None:
    if not table_exists(conn, "billing", "closed_months"):
        return None
    rows = conn.execute(
        "select month_digest, closed_at, statements from billing.closed_months where billing_month = ?", [month]
    ).fetchall()
    if not rows:
        return None
    digest, closed_at, statements = rows[0]
    return {"month_digest": digest, "closed_at": _iso(closed_at), "statements": statements}


def _recorded_manifest_sha(conn: duckdb.DuckDBPyConnection, month: date) -> str | None:
    """The manifest SHA-256 of the latest `archive_month` record of month, if any."""
    if not table_exists(conn, "audit", "audit_logs"):
        return None
    rows = conn.execute(
        "select after_values->>'manifest_sha256' from audit.audit_logs where operation = ? and entity_id = ? "
        "order by sequence_number desc limit 1",
        [OPERATION, f"{month:%Y-%m}"],
    ).fetchall()
    return rows[0][0] if rows else None


# --- reading and checking an archive ------------------------------------------------------------


def _read_manifest(folder: Path, month: date) -> tuple[dict[str, Any], str]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise _Mismatch(f"{MANIFEST_NAME} is missing from {folder}")
    data = path.read_bytes()
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Mismatch(f"{MANIFEST_NAME} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise _Mismatch(f"{MANIFEST_NAME} is not a {MANIFEST_FORMAT} manifest")
    if manifest.get("billing_month") != f"{month:%Y-%m}":
        raise _Mismatch(f"{MANIFEST_NAME} is for {manifest.get('billing_month')!r}, not {month:%Y-%m}")
    files = manifest.get("files")
    names = [f.get("name") for f in files] if isinstance(files, list) and all(isinstance(f, dict) for f in files) else []
    if sorted(names) != sorted(t.file_name for t in TABLES):
        raise _Mismatch(f"{MANIFEST_NAME} lists files {names}, expected {[t.file_name for t in TABLES]}")
    return manifest, hashlib.sha256(data).hexdigest()


def _entry(manifest: dict[str, Any], table: ArchivedTable) -> dict[str, Any]:
    return next(f for f in manifest["files"] if f["name"] == table.file_name)


def _manifest_sums(entry: dict[str, Any], table: ArchivedTable) -> dict[str, Decimal]:
    try:
        return {c: Decimal(str(entry["sums"][c])) for c in table.money_columns}
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise _Mismatch(f"{MANIFEST_NAME} has no valid sums for {table.file_name}") from exc


def _first_difference(label: str, expected_rows: int, expected_sums: dict[str, Decimal], stats: _Stats,
                      what: str) -> str | None:
    if stats.rows != expected_rows:
        return f"{label} has {stats.rows} rows, {what} {expected_rows}"
    for column, expected in expected_sums.items():
        if stats.sums[column] != expected:
            return f"{label} sums {column} to {stats.sums[column]:f}, {what} {expected:f}"
    return None


def _is_recorded(conn: duckdb.DuckDBPyConnection, month: date, manifest: dict[str, Any], sha: str) -> bool:
    """True when the trail's latest archive record of month is this manifest; False when that
    record is missing (none yet, or still the one this archive replaced: a run stopped between
    the rename and the record); a mismatch when the trail recorded another manifest."""
    recorded = _recorded_manifest_sha(conn, month)
    if recorded == sha:
        return True
    if recorded is None or recorded == manifest.get("replaces_manifest_sha256"):
        return False
    raise _Mismatch(f"{MANIFEST_NAME} has sha256 {sha} but the audit trail recorded {recorded} for "
                    f"{month:%Y-%m}: the manifest was edited or replaced after archiving")


def _check_files(conn: duckdb.DuckDBPyConnection, folder: Path, manifest: dict[str, Any]) -> None:
    """Each file is there, has its SHA-256, and its rows and sums (re-read from the Parquet) match."""
    expected = {t.file_name for t in TABLES} | {MANIFEST_NAME}
    extra = sorted(p.name for p in folder.iterdir() if p.name not in expected)
    if extra:
        raise _Mismatch(f"unexpected file(s) in the archive: {', '.join(extra)}")
    for table in TABLES:
        entry = _entry(manifest, table)
        path = folder / table.file_name
        if not path.is_file():
            raise _Mismatch(f"{table.file_name} is missing")
        actual = sha256_of(path)
        if actual != entry.get("sha256"):
            raise _Mismatch(f"{table.file_name} has sha256 {actual}, the manifest says {entry.get('sha256')}: "
                            f"the file changed after it was archived")
        try:
            stats = _stats(conn, table, _archive_select(table, path))
        except duckdb.Error as exc:
            raise _Mismatch(f"{table.file_name} cannot be read as this archive's Parquet: "
                            f"{str(exc).splitlines()[0]}") from exc
        difference = _first_difference(table.file_name, entry.get("rows"), _manifest_sums(entry, table), stats,
                                       "the manifest says")
        if difference:
            raise _Mismatch(difference)


def _check_warehouse(conn: duckdb.DuckDBPyConnection, folder: Path, month: date, manifest: dict[str, Any]) -> None:
    """The warehouse now has the same close, counts, sums and rows as the archive."""
    close = _close_of(conn, month)
    archived_close = manifest.get("close") or {}
    if close is None:
        raise _Mismatch(f"{month:%Y-%m} is not closed in the warehouse")
    if close["month_digest"] != archived_close.get("month_digest"):
        raise _Mismatch(f"the close's month digest is {close['month_digest']} in the warehouse, "
                        f"{archived_close.get('month_digest')} in the archive")
    for table in TABLES:
        entry = _entry(manifest, table)
        stats = _stats(conn, table, _warehouse_select(table, month))
        difference = _first_difference(f"{table.relation} for {month:%Y-%m}", entry.get("rows"),
                                       _manifest_sums(entry, table), stats, "the archive has")
        if difference:
            raise _Mismatch(difference + " (the warehouse changed since it was archived)")
        difference = _content_difference(conn, table, month, folder / table.file_name)
        if difference:
            raise _Mismatch(f"{table.file_name} differs from {table.relation} for {month:%Y-%m}: {difference} "
                            f"(the warehouse changed since it was archived)")


def _fingerprint_sql(table: ArchivedTable, select: str) -> str:
    # Order-independent: count, sum and xor of a 64-bit hash of every row, all in one streaming
    # pass (a full EXCEPT ALL of 3M rows took 18 s and 3.5 GB). Tampering with the file itself is
    # caught by its SHA-256; this compares the archive's content with the warehouse's.
    row_hash = f"hash({', '.join(table.columns)})"
    return f"select count(*), coalesce(sum({row_hash}::hugeint), 0), bit_xor({row_hash}) from ({select}) as t"


def _content_difference(conn: duckdb.DuckDBPyConnection, table: ArchivedTable, month: date, path: Path) -> str | None:
    """None when the file holds exactly the warehouse's rows; else how many rows differ, by key."""
    warehouse, archive = _warehouse_select(table, month), _archive_select(table, path)
    try:
        same = (conn.execute(_fingerprint_sql(table, warehouse)).fetchall()
                == conn.execute(_fingerprint_sql(table, archive)).fetchall())
        if same:
            return None
        row_hash = f"hash({', '.join(table.columns)})"
        changed, only_warehouse, only_file = conn.execute(
            f"""with w as (select {table.key}, {row_hash} as h from ({warehouse}) as t),
                     a as (select {table.key}, {row_hash} as h from ({archive}) as t)
                select count(*) filter (where w.h <> a.h), count(*) filter (where a.h is null),
                       count(*) filter (where w.h is null)
                from w full outer join a using ({table.key})"""
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise _Mismatch(f"{table.file_name} cannot be compared with {table.relation}: "
                        f"{str(exc).splitlines()[0]}") from exc
    return f"rows changed {changed}, only in the warehouse {only_warehouse}, only in the file {only_file}"


def _summaries(manifest: dict[str, Any]) -> tuple[FileSummary, ...]:
    return tuple(
        FileSummary(t.file_name, int(_entry(manifest, t)["rows"]), _manifest_sums(_entry(manifest, t), t))
        for t in TABLES
    )


def verify_month(conn: duckdb.DuckDBPyConnection, settings: Settings, month: date) -> VerifyResult:
    """Check one archive against its manifest, the audit trail and the warehouse; read-only."""
    label = f"{month:%Y-%m}"
    folder = month_dir(settings, month)
    try:
        manifest, sha = _read_manifest(folder, month)
        if not _is_recorded(conn, month, manifest, sha):
            raise _Mismatch(f"no audit record of this archive (manifest sha256 {sha}): a run stopped between "
                            f"writing and recording it; run `coachwh archive --month {label}` to record it")
        _check_files(conn, folder, manifest)
        _check_warehouse(conn, folder, month, manifest)
    except _Mismatch as mismatch:
        return VerifyResult(label, False, str(mismatch))
    figures = ", ".join(f"{f.name} {f.rows} rows" for f in _summaries(manifest))
    return VerifyResult(label, True, f"{figures}; hashes, counts and sums match the manifest, the audit trail "
                                     f"and the warehouse; manifest sha256 {sha}")


def verify_archives(conn: duckdb.DuckDBPyConnection, settings: Settings, month: date | None = None) -> list[VerifyResult]:
    """Verify one month's archive, or every archived month (oldest first)."""
    if month is not None:
        if not month_dir(settings, month).is_dir():
            raise CoachwhError(f"{month:%Y-%m} is not archived in {settings.archive_dir}; archive it with "
                               f"`coachwh archive --month {month:%Y-%m}`")
        return [verify_month(conn, settings, month)]
    return [verify_month(conn, settings, date.fromisoformat(f"{m}-01")) for m in archived_months(settings)]


# --- writing ------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(conn: duckdb.DuckDBPyConnection, month: date, close: dict[str, Any], target: Path,
           reason: str | None, replaces: str | None) -> tuple[dict[str, Any], str]:
    """Write the Parquet files and the manifest into `target` (a fresh temp folder) and fsync them."""
    files = []
    usage_range: tuple[datetime | None, datetime | None] = (None, None)
    for table in TABLES:
        path = target / table.file_name
        conn.execute(
            f"copy ({_warehouse_select(table, month)} order by {table.order_by}) "
            f"to {_literal(str(path))} (format parquet, compression zstd)"
        ).fetchall()
        # Counted and summed from the file just written: the manifest describes what is archived.
        stats = _stats(conn, table, _archive_select(table, path))
        if table.name == "usage_logs":
            usage_range = (stats.time_min, stats.time_max)
        files.append({
            "name": table.file_name,
            "source": f"{table.relation} where {table.month_column} = {month:%Y-%m-%d}",
            "rows": stats.rows,
            "bytes": path.stat().st_size,
            "sha256": sha256_of(path),
            "sums": {column: f"{total:f}" for column, total in stats.sums.items()},
            "date_range": {"column": table.time_column, "min": _iso(stats.time_min), "max": _iso(stats.time_max)},
        })
    manifest = {
        "format": MANIFEST_FORMAT,
        "billing_month": f"{month:%Y-%m}",
        "date_range": {"column": "usage_logs.transcription_completed_at",
                       "min": _iso(usage_range[0]), "max": _iso(usage_range[1])},
        "close": close,
        "files": files,
        "code_version": code_version(),
        "created_at": datetime.now(UTC).isoformat(),
        # A forced rewrite says why and what it replaced, so that its audit record can be rebuilt
        # from the manifest alone if the run stops before writing it.
        "reason": reason,
        "replaces_manifest_sha256": replaces,
    }
    data = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    (target / MANIFEST_NAME).write_bytes(data)
    for path in target.iterdir():
        _fsync(path)
    _fsync(target)
    return manifest, hashlib.sha256(data).hexdigest()


def _recover(root: Path, month: date) -> None:
    """Undo what a run that stopped midway left beside the month's folder (see `archive_month`)."""
    label = f"{month:%Y-%m}"
    for leftover in root.glob(f".{label}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    replaced = sorted(root.glob(f".{label}.replaced-*"))
    if replaced and not (root / label).exists():
        os.rename(replaced.pop(), root / label)
        _fsync(root)
    for old in replaced:
        shutil.rmtree(old, ignore_errors=True)


def _record(conn: duckdb.DuckDBPyConnection, month: date, manifest: dict[str, Any], sha: str, actor: str | None,
            run_id: str | None) -> None:
    """The archive's audit record, built from its manifest alone (so a rerun can write it too)."""
    with transaction(conn):
        record(
            conn, OPERATION, entity_type="billing_month", entity_id=f"{month:%Y-%m}",
            counts={t.name: int(_entry(manifest, t)["rows"]) for t in TABLES},
            before={"manifest_sha256": manifest["replaces_manifest_sha256"]} if manifest.get(
                "replaces_manifest_sha256") else None,
            after={"manifest_sha256": sha, "month_digest": (manifest.get("close") or {}).get("month_digest"),
                   "path": f"archive/{month:%Y-%m}"},
            reason=manifest.get("reason"), run_id=run_id, actor=actor,
        )


def archive_month(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    month: date,
    *,
    force: bool = False,
    reason: str | None = None,
    on_change: Literal["refuse", "keep"] = "refuse",
    actor: str | None = None,
    run_id: str | None = None,
) -> ArchiveResult:
    """Archive closed month `month` under settings.archive_dir, or say why it is already done.

    An existing archive that still matches the warehouse is left alone (a no-op). One that differs
    is rewritten only with force and a reason; otherwise it is refused (on_change="refuse", the
    CLI) or kept and reported (on_change="keep", the scheduled asset: an automatic run never
    rewrites an archive, and re-running a close must not fail because late data arrived).

    Crash safety: the files are written into a temp folder beside the month's, fsynced, and
    renamed into place; only then is the audit record committed. A crash before the rename
    leaves a temp folder that the next run deletes (nothing changed, nothing to record). A crash
    after it leaves an archive without its record: `verify` reports it, and the next run finds
    the archive matching the warehouse and writes the missing record from the manifest (which
    holds the reason and the manifest it replaced). A forced rewrite first renames the old folder
    aside; if the run stops before the new one is in place, the next run renames it back.
    """
    started = time.monotonic()
    label = f"{month:%Y-%m}"
    if force and not (reason and reason.strip()):
        raise CoachwhError("--force needs --reason \"why\": a rewritten archive is audited with its reason")
    _guard_no_pii_columns()
    close = _close_of(conn, month)
    if close is None:
        raise CoachwhError(f"{label} is not closed, so it cannot be archived; close it first with "
                           f"`coachwh billing close --month {label}`")
    root = settings.archive_dir
    root.mkdir(parents=True, exist_ok=True)
    _recover(root, month)
    folder = month_dir(settings, month)
    replaces: str | None = None
    difference: str | None = None
    if folder.exists():
        try:
            manifest, sha = _read_manifest(folder, month)
            recorded = _is_recorded(conn, month, manifest, sha)
            _check_files(conn, folder, manifest)
            _check_warehouse(conn, folder, month, manifest)
        except _Mismatch as mismatch:
            difference = str(mismatch)
            # What the rewrite replaces: the archive the trail knows, even if its manifest was edited.
            replaces = _recorded_manifest_sha(conn, month) or _manifest_sha_or_none(folder)
        else:
            status: Status = "unchanged"
            if not recorded:
                _record(conn, month, manifest, sha, actor, run_id)
                status = "recorded"
            return ArchiveResult(month, status, folder, sha, _summaries(manifest), time.monotonic() - started)
        if not force:
            if on_change == "keep":
                return ArchiveResult(month, "kept_stale", folder, replaces or "none", (), time.monotonic() - started,
                                     difference)
            raise CoachwhError(
                f"{label} is already archived in {folder} but no longer matches: {difference}; "
                f"to rewrite it from the warehouse, rerun with --force --reason \"why\""
            )
    # Not tempfile.mkdtemp: its 0700 folder would become the archive; os.mkdir honours the umask.
    target = root / f".{label}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(target)
    try:
        manifest, sha = _write(conn, month, close, target, reason.strip() if force and reason else None, replaces)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    aside = root / f".{label}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    if folder.exists():
        os.rename(folder, aside)
    os.rename(target, folder)
    _fsync(root)
    _record(conn, month, manifest, sha, actor, run_id)
    shutil.rmtree(aside, ignore_errors=True)
    return ArchiveResult(month, "rewritten" if difference else "written", folder, sha,
                         _summaries(manifest), time.monotonic() - started, difference)


def _manifest_sha_or_none(folder: Path) -> str | None:
    path = folder / MANIFEST_NAME
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def archive_through(
    conn: duckdb.DuckDBPyConnection, settings: Settings, month: date, *, actor: str | None = None,
    run_id: str | None = None,
) -> list[ArchiveResult]:
    """For the scheduled asset: archive every closed month up to `month` that has no archive yet,
    oldest first, then `month` itself (a close closes earlier open months too, so they get their
    archive in the same run). Earlier archives already there are not re-checked here: verify does.
    """
    closed = [m for (m,) in conn.execute(
        "select billing_month from billing.closed_months where billing_month < ? order by 1", [month]
    ).fetchall()] if table_exists(conn, "billing", "closed_months") else []
    earlier = [m for m in closed if not month_dir(settings, m).exists()]
    return [
        archive_month(conn, settings, m, on_change="keep", actor=actor, run_id=run_id)
        for m in [*earlier, month]
    ]
