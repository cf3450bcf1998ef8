"""Loading new landing files: validate, de-duplicate, split PII off, and commit atomically.

Files of one stream are loaded in batches. Each batch is staged in temporary tables first (that is
where unreadable files are found, without touching the warehouse), then written in ONE transaction:
raw rows, vault rows, quarantine rows and the ledger rows that mark its files as loaded. A crash
before COMMIT leaves nothing behind and the files are still pending on the next run; a crash after
it leaves them complete and recorded, so nothing is ever half-loaded, lost or doubled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import polars as pl

from dagster_project import lake
from dagster_project.audit.platform_checksum import verify_unchecked
from dagster_project.audit.trail import record
from dagster_project.config import Settings
from dagster_project.contracts import Contract, load_contracts
from dagster_project.ingestion.discovery import PendingFile, list_landing_files, pending_files
from dagster_project.ingestion.readers import FileRejected, parquet_columns, read_jsonl_lines
from dagster_project.ingestion.redaction import (
    PreparedRedactions,
    RedactionResult,
    discard_prepared,
    redact_loaded_files,
    start_redactions,
)
from dagster_project.ingestion.validation import (
    jsonl_projection,
    lit,
    parquet_projection,
    q,
    validated_select,
)
from dagster_project.warehouse import ensure_schema, transaction

log = logging.getLogger(__name__)

# Rows staged before a batch is committed: bounds memory while amortizing the per-batch
# de-duplication join against everything already loaded.
DEFAULT_BATCH_ROWS = 1_000_000
# The platform's own audit log: each event's checksum is verified as it loads (spec §2.4).
PLATFORM_AUDIT_STREAM = "audit_events"


@dataclass
class FileResult:
    stream: str
    file_path: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_quarantined: int
    extra_field_rows: int
    reject_reason: str | None = None


@dataclass
class IngestionReport:
    files: list[FileResult] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)
    redacted: list[RedactionResult] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    def by_stream(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            row = out.setdefault(
                f.stream, {"files": 0, "read": 0, "loaded": 0, "duplicate": 0, "quarantined": 0, "rejected_files": 0}
            )
            row["files"] += 1
            row["read"] += f.rows_read
            row["loaded"] += f.rows_loaded
            row["duplicate"] += f.rows_duplicate
            row["quarantined"] += f.rows_quarantined
            row["rejected_files"] += f.status == "rejected"
        return out


# Called just before COMMIT with the batch id; tests use it to simulate a crash mid-batch.
BeforeCommitHook = Callable[[int], None]


def ingest_landing(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    before_commit: BeforeCommitHook | None = None,
    run_id: str | None = None,
    actor: str | None = None,
) -> IngestionReport:
    """Load every landing file not loaded before; return what happened to each.

    Each file's audit records (`ingest_file`, and `quarantine` when records were rejected) are
    written in the transaction that loads it, with the Dagster run id and actor given here.
    """
    ensure_schema(conn)
    contracts = load_contracts()
    pending = pending_files(conn, list_landing_files(settings.landing_dir))
    report = IngestionReport()
    by_stream: dict[str, list[PendingFile]] = {}
    for item in pending:
        by_stream.setdefault(item.file.stream, []).append(item)
    # Streams that carry PII first: their redaction (below) then overlaps the larger streams' load.
    order = sorted(by_stream, key=lambda s: (not (s in contracts and carries_pii(contracts[s])), s))
    work = [(stream, contracts.get(stream), batch) for stream in order for batch in _batches(by_stream[stream], batch_rows)]
    prepared: PreparedRedactions = {}
    # Read-ahead: the next batch's JSON-lines files are read, decompressed and split into lines in
    # a thread while DuckDB validates and commits this one (zlib, Polars and DuckDB all release the
    # GIL, so the two overlap on the second core instead of taking turns). Likewise, once a PII
    # stream is committed, its files' redacted versions are written in a second thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="coachwh-read-ahead") as reader, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="coachwh-redact") as redactor:
        ahead: Future[JsonlBatch] | None = None
        try:
            for index, (stream, contract, batch) in enumerate(work):
                lines = ahead.result() if ahead is not None else read_jsonl_batch(batch, contract)
                ahead = None
                if index + 1 < len(work):
                    _, next_contract, next_batch = work[index + 1]
                    ahead = reader.submit(read_jsonl_batch, next_batch, next_contract)
                _load_batch(conn, stream, contract, batch, lines, report, before_commit, run_id, actor)
                if index + 1 == len(work) or work[index + 1][0] != stream:
                    prepared.update(start_redactions(settings, conn, stream, redactor))
            # After every commit: loaded files of PII streams keep no PII (their values are in the vault).
            report.redacted = redact_loaded_files(settings, conn, run_id=run_id, actor=actor, prepared=prepared)
        except BaseException:
            discard_prepared(prepared)  # a failed run leaves no half-made redacted copies behind
            raise
    # Spark targets read the raw tables as Parquet: publish the new batches (lake.py; off on DuckDB).
    lake.sync_if_enabled(conn, settings)
    return report


@dataclass
class JsonlBatch:
    """The JSON-lines files of one batch, read: their lines, their non-UTF-8 lines, and unreadable files."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    bad_lines: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)


def read_jsonl_batch(files: list[PendingFile], contract: Contract | None) -> JsonlBatch:
    """Read every JSON-lines file of a batch (by its index in `files`). Touches no DuckDB connection,
    so it can run in a thread beside the loading of the previous batch."""
    out = JsonlBatch()
    if contract is None:
        return out  # a stream with no contract is rejected whole, unread
    for idx, item in enumerate(files):
        fmt = item.file.file_format
        if fmt not in ("jsonl", "jsonl.gz"):
            continue
        try:
            frame, bad_lines = read_jsonl_lines(item.file.path, fmt == "jsonl.gz", idx)
        except FileRejected as exc:
            out.rejected[idx] = str(exc)
            continue
        out.frames.append(frame)
        if bad_lines:
            out.bad_lines[idx] = bad_lines
    return out


def _batches(items: list[PendingFile], batch_rows: int) -> list[list[PendingFile]]:
    # Estimate rows from bytes (about 250 bytes a record uncompressed, 5x that for gz/parquet):
    # reading every file twice to count would cost more than an imprecise batch size.
    batches: list[list[PendingFile]] = []
    current: list[PendingFile] = []
    estimate = 0
    for item in items:
        factor = 1 if item.file.file_format == "jsonl" else 5
        current.append(item)
        estimate += item.file.size_bytes * factor // 250
        if estimate >= batch_rows:
            batches.append(current)
            current, estimate = [], 0
    if current:
        batches.append(current)
    return batches


def _stage(
    conn: duckdb.DuckDBPyConnection, contract: Contract, files: list[PendingFile], lines: JsonlBatch
) -> dict[int, str]:
    """Fill temp table _stage with every record of the batch; return file_idx -> reject reason.

    All JSON-lines files of the batch (read beforehand, see `read_jsonl_batch`) are validated in
    one query, and Parquet files in one query per distinct schema: one large query keeps both
    cores busy where a query per file would not.
    """
    rejected: dict[int, str] = dict(lines.rejected)
    empty = pl.DataFrame(
        {"file_idx": pl.Series([], dtype=pl.Int32), "line_number": pl.Series([], dtype=pl.Int64),
         "raw_text": pl.Series([], dtype=pl.String)}
    )
    _insert_lines(conn, contract, empty, create=True)
    parquet_groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for idx, item in enumerate(files):
        fmt = item.file.file_format
        try:
            if fmt is None:
                raise FileRejected("unsupported_file_format:expected .jsonl, .jsonl.gz or .parquet")
            if fmt == "parquet":
                columns = parquet_columns(conn, item.file.path)
                parquet_groups.setdefault(tuple(columns.items()), []).append(idx)
        except FileRejected as exc:
            rejected[idx] = str(exc)
    for idx, bad_lines in lines.bad_lines.items():
        for number, text in bad_lines:
            conn.execute(
                "insert into _stage (file_idx, line_number, raw_text, reason) values (?, ?, ?, 'invalid_utf8')",
                [idx, number, text],
            )
    if lines.frames:
        _insert_lines(conn, contract, pl.concat(lines.frames, rechunk=False), create=False)
    for schema, indexes in parquet_groups.items():
        try:
            _insert_parquet(conn, contract, files, indexes, dict(schema))
        except FileRejected:
            # Some file of the group is unreadable past its footer: retry one by one to find it.
            for idx in indexes:
                try:
                    _insert_parquet(conn, contract, files, [idx], dict(schema))
                except FileRejected as exc:
                    rejected[idx] = str(exc)
    if rejected:
        conn.execute(f"delete from _stage where file_idx in ({', '.join(map(str, rejected))})")
    return rejected


def _insert_lines(conn: duckdb.DuckDBPyConnection, contract: Contract, frame: pl.DataFrame, create: bool) -> None:
    conn.register("_lines", frame.to_arrow())
    try:
        sql = validated_select(contract, jsonl_projection(contract, "_lines"))
        conn.execute(f"create or replace temp table _stage as {sql}" if create else f"insert into _stage by name {sql}")
    finally:
        conn.unregister("_lines")


def _insert_parquet(
    conn: duckdb.DuckDBPyConnection, contract: Contract, files: list[PendingFile], indexes: list[int],
    columns: dict[str, str],
) -> None:
    paths = [str(files[i].file.path) for i in indexes]
    file_idx = "case filename " + " ".join(f"when {lit(p)} then {i}" for p, i in zip(paths, indexes, strict=True)) + " end"
    source = f"read_parquet([{', '.join(lit(p) for p in paths)}], file_row_number = true, filename = true)"
    sql = validated_select(contract, parquet_projection(contract, source, columns, file_idx))
    try:
        conn.execute("begin transaction")
        conn.execute(f"insert into _stage by name {sql}")
        conn.execute("commit")
    except duckdb.Error as exc:
        conn.execute("rollback")
        raise FileRejected(f"corrupt_file:bad parquet ({str(exc).splitlines()[0][:200]})") from exc


def _register_files(conn: duckdb.DuckDBPyConnection, files: list[PendingFile], rejected: dict[int, str]) -> None:
    frame = pl.DataFrame(
        {
            "file_idx": list(range(len(files))),
            "rel_path": [f.file.rel_path for f in files],
            "content_sha256": [f.content_sha256 for f in files],
            "file_format": [f.file.file_format or "unknown" for f in files],
            "size_bytes": [f.file.size_bytes for f in files],
            "mtime_ns": [f.file.mtime_ns for f in files],
            "reject_reason": [rejected.get(i) for i in range(len(files))],
        },
        schema_overrides={"reject_reason": pl.String, "file_idx": pl.Int32},
    )
    conn.register("_files_frame", frame.to_arrow())
    conn.execute("create or replace temp table _files as select * from _files_frame")
    conn.unregister("_files_frame")


def _load_batch(
    conn: duckdb.DuckDBPyConnection,
    stream: str,
    contract: Contract | None,
    files: list[PendingFile],
    lines: JsonlBatch,
    report: IngestionReport,
    before_commit: BeforeCommitHook | None,
    run_id: str | None = None,
    actor: str | None = None,
) -> None:
    if contract is None:
        rejected = {i: f"unknown_stream:no data contract for '{stream}'" for i in range(len(files))}
    else:
        rejected = _stage(conn, contract, files, lines)
    _register_files(conn, files, rejected)
    batch_id = conn.execute("select nextval('raw.batch_id_seq')").fetchall()[0][0]
    version = contract.version if contract else "none"
    if contract is not None:
        _classify(conn, contract)
        _stage_quarantine(conn, contract, batch_id)
        # Phase 1, the vault (its own DuckDB file, and DuckDB commits one file per transaction):
        # its inserts skip what is already there, so a crash between the two commits leaves rows
        # that the rerun of the same file finds and does not double.
        with transaction(conn):
            _insert_vault(conn, contract, batch_id)
    else:
        conn.execute(
            "create or replace temp table _contested (file_idx INTEGER, line_number BIGINT, _pk VARCHAR, disposition VARCHAR)"
        )
        conn.execute("create or replace temp table _stage (file_idx INTEGER, line_number BIGINT, reason VARCHAR, extra_json VARCHAR)")
    # Phase 2, the warehouse: raw rows, quarantine and the ledger commit together or not at all.
    with transaction(conn):
        if contract is not None:
            _insert_raw(conn, contract, batch_id)
            _insert_row_quarantine(conn, contract)
            if stream == PLATFORM_AUDIT_STREAM:
                verify_unchecked(conn)
        _insert_file_quarantine(conn, stream, batch_id)
        _insert_ledger(conn, stream, batch_id, version)
        _audit_batch(conn, batch_id, run_id, actor)
        if before_commit is not None:
            before_commit(batch_id)
    rows = conn.execute(
        "select stream, file_path, status, rows_read, rows_loaded, rows_duplicate, rows_quarantined, "
        "extra_field_rows, reject_reason from raw.ingested_files where batch_id = ? order by file_path",
        [batch_id],
    ).fetchall()
    report.files.extend(FileResult(*row) for row in rows)
    report.batch_ids.append(batch_id)
    log.info("batch %s: %s files of %s loaded", batch_id, len(files), stream)


def _audit_batch(conn: duckdb.DuckDBPyConnection, batch_id: int, run_id: str | None, actor: str | None) -> None:
    """One `ingest_file` record per file of the batch, and one `quarantine` record per file that had rejects."""
    files = conn.execute(
        "select file_path, stream, status, content_sha256, rows_read, rows_loaded, rows_duplicate, rows_quarantined, "
        "extra_field_rows, reject_reason from raw.ingested_files where batch_id = ? order by file_path",
        [batch_id],
    ).fetchall()
    reasons: dict[str, dict[str, int]] = {}
    for file, kind, count in conn.execute(
        "select file, split_part(reason, ':', 1), count(*) from raw.quarantine where batch_id = ? group by all",
        [batch_id],
    ).fetchall():
        reasons.setdefault(file, {})[kind] = count
    for path, stream, status, sha, read, loaded, duplicate, quarantined, extra, reject in files:
        counts = {"read": read, "loaded": loaded, "duplicate": duplicate, "quarantined": quarantined,
                  "extra_field_rows": extra}
        after = {"stream": stream, "status": status, "content_sha256": sha, "batch_id": batch_id}
        record(conn, "ingest_file", entity_type="landing_file", entity_id=path, counts=counts, after=after,
               reason=reject, run_id=run_id, actor=actor)
        if path in reasons:
            record(conn, "quarantine", entity_type="landing_file", entity_id=path, counts=reasons[path],
                   after={"stream": stream, "batch_id": batch_id}, run_id=run_id, actor=actor)


def _classify(conn: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Decide load / duplicate / conflict for the valid staged records whose id is contested.

    An id is contested when it appears more than once in the batch or is already in raw; every
    other valid record simply loads, which keeps this step cheap for the usual all-new batch. The
    reference content of a contested id is the one already in raw (if any), else its first
    delivery in this batch (file order, then line). Same content again is a duplicate; other
    content is a conflicting duplicate and goes to quarantine. Ids are de-duplicated forever.
    """
    pk = q(contract.primary_key)
    conn.execute(
        f"""
        create or replace temp table _contested as
        with valid as (
            select _pk, file_idx, line_number, _record_hash from _stage where reason is null
        ),
        existing as (
            select r.{pk} as _pk, r._record_hash as _existing_hash
            from raw.{q(contract.stream)} as r
            where r.{pk} in (select _pk from valid)
        ),
        contested as (
            select _pk from valid group by _pk having count(*) > 1
            union
            select _pk from existing
        ),
        ranked as (
            select valid.*, existing._existing_hash,
                   row_number() over w as _rn,
                   first_value(valid._record_hash) over w as _first_hash
            from valid
            join contested using (_pk)
            left join existing using (_pk)
            window w as (partition by valid._pk order by valid.file_idx, valid.line_number)
        )
        select file_idx, line_number, _pk,
               case when _existing_hash is null and _rn = 1 then 'load'
                    when _record_hash = coalesce(_existing_hash, _first_hash) then 'duplicate'
                    else 'conflict' end as disposition
        from ranked
        """
    )


# The valid staged records that load: uncontested ones, and the first delivery of contested ids.
_LOADING = """
    from _stage as c
    left join _contested as d using (file_idx, line_number)
    join _files as f using (file_idx)
    where c.reason is null and coalesce(d.disposition, 'load') = 'load'
"""


def _insert_raw(conn: duckdb.DuckDBPyConnection, contract: Contract, batch_id: int) -> None:
    columns = [f.name for f in contract.raw_fields]
    columns += [f"{f.name}_raw_text" for f in contract.raw_fields if f.keep_raw_text]
    names = ", ".join(q(c) for c in columns)
    # Unknown fields of a stream that carries PII are unclassified, so they are kept in the vault.
    extra = "null" if carries_pii(contract) else "c.extra_json::json"
    conn.execute(
        f"""
        insert into raw.{q(contract.stream)}
            ({names}, _batch_id, _source_file, _line_number, _record_hash, _extra_fields, _ingested_at)
        select {", ".join("c." + q(col) for col in columns)}, {batch_id}, f.rel_path, c.line_number,
               c._record_hash, {extra}, current_timestamp
        {_LOADING}
        """
    )


def carries_pii(contract: Contract) -> bool:
    """A stream with pii or sensitive fields: its quarantined text and extra fields go to the vault."""
    return bool(contract.protected_fields) and contract.pii_subject is not None


def _insert_vault(conn: duckdb.DuckDBPyConnection, contract: Contract, batch_id: int) -> None:
    """Route every pii/sensitive value of the loaded records to the vault, keyed by its subject.

    Each insert skips rows already in the vault (same record and field), which makes a rerun after
    a crash between the vault's commit and the warehouse's harmless.
    """
    if not carries_pii(contract):
        return
    subject = contract.pii_subject
    assert subject is not None
    stream = lit(contract.stream)
    recorded_at = next((f.name for f in contract.fields if f.logical_type == "timestamp"), None)
    recorded_expr = f"c.{q(recorded_at)}" if recorded_at else "null"
    subject_type = (
        f"case when c.{q(subject.subject_id_field)} is null then {lit(contract.stream + '_record')} "
        f"else {lit(subject.subject_type)} end"
    )
    subject_id = f"coalesce(c.{q(subject.subject_id_field)}, c._pk)"
    # PII of a subject already erased is not kept again when the platform re-sends it.
    erased = (
        f"select 1 from governance.erasures as e where e.subject_type = {subject_type} "
        f"and e.subject_id = {subject_id}"
    )
    for f in contract.protected_fields:
        conn.execute(
            f"""
            insert into vault.pii
            select {subject_type}, {subject_id},
                   {lit(f.name)}, c.{q(f.name)}::varchar, {lit(f.classification)}, {stream},
                   c._pk, f.rel_path, {recorded_expr}, {batch_id}, current_timestamp
            {_LOADING} and c.{q(f.name)} is not null
              and not exists ({erased})
              and not exists (select 1 from vault.pii as v
                              where v.source_stream = {stream} and v.source_record_id = c._pk
                                and v.field = {lit(f.name)})
            """
        )
    conn.execute(
        f"""
        insert into vault.extra_fields
        select {subject_type}, {subject_id}, {stream}, c._pk, c.extra_json, {batch_id}, current_timestamp
        {_LOADING} and c.extra_json is not null
          and not exists ({erased})
          and not exists (select 1 from vault.extra_fields as v
                          where v.source_stream = {stream} and v.source_record_id = c._pk)
        """
    )
    conn.execute(
        """
        insert into vault.quarantine_text
        select quarantine_id, stream, raw_text, quarantined_at from _quarantine as qt
        where raw_text is not null
          and not exists (select 1 from vault.quarantine_text as v where v.quarantine_id = qt.quarantine_id)
        """
    )


def _quarantine_id(path_expr: str, line_expr: str, reason_expr: str) -> str:
    return f"md5(concat_ws('|', {path_expr}, f.content_sha256, coalesce({line_expr}::varchar, 'file'), {reason_expr}))"


def _stage_quarantine(conn: duckdb.DuckDBPyConnection, contract: Contract, batch_id: int) -> None:
    """Stage the batch's rejected records in temp table _quarantine (the vault and raw both read it)."""
    # A conflicting record passed validation, so only its typed values were staged: its text in
    # quarantine is those values as one JSON object.
    record_json = "json_object(" + ", ".join(f"{lit(f.name)}, s.{q(f.name)}" for f in contract.fields) + ")::varchar"
    stream = contract.stream
    conn.execute(
        f"""
        create or replace temp table _quarantine as
        select {_quarantine_id('f.rel_path', 's.line_number', 's.reason')} as quarantine_id, {batch_id} as batch_id,
               {lit(stream)} as stream, f.rel_path as file, s.line_number, s.reason, s.raw_text,
               current_timestamp as quarantined_at
        from _stage as s join _files as f using (file_idx)
        where s.reason is not null
        union all
        select {_quarantine_id('f.rel_path', 'd.line_number', "'conflicting_duplicate'")}, {batch_id},
               {lit(stream)}, f.rel_path, d.line_number, 'conflicting_duplicate:' || d._pk,
               {record_json}, current_timestamp
        from _contested as d
        join _stage as s using (file_idx, line_number)
        join _files as f using (file_idx)
        where d.disposition = 'conflict'
        """
    )


def _insert_row_quarantine(conn: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    # The raw text of a stream that carries PII is in vault.quarantine_text under the same id.
    raw_text = "null" if carries_pii(contract) else "raw_text"
    conn.execute(
        f"""
        insert into raw.quarantine
        select quarantine_id, batch_id, stream, file, line_number, reason, {raw_text}, quarantined_at
        from _quarantine
        """
    )


def _insert_file_quarantine(conn: duckdb.DuckDBPyConnection, stream: str, batch_id: int) -> None:
    conn.execute(
        f"""
        insert into raw.quarantine
        select {_quarantine_id('f.rel_path', 'null', 'f.reject_reason')}, {batch_id}, {lit(stream)},
               f.rel_path, null, f.reject_reason, null, current_timestamp
        from _files as f
        where f.reject_reason is not null
        """
    )


def _insert_ledger(conn: duckdb.DuckDBPyConnection, stream: str, batch_id: int, version: str) -> None:
    conn.execute(
        f"""
        insert into raw.ingested_files
        with staged as (
            select file_idx, count(*) as rows_read, count(*) filter (where reason is not null) as rows_invalid,
                   count(*) filter (where reason is null) as rows_valid,
                   count(*) filter (where reason is null and extra_json is not null) as extra_rows
            from _stage group by file_idx
        ),
        contested as (
            select file_idx,
                   count(*) filter (where disposition = 'duplicate') as rows_duplicate,
                   count(*) filter (where disposition = 'conflict') as rows_conflict
            from _contested group by file_idx
        ),
        classified as (
            select s.file_idx,
                   s.rows_valid - coalesce(d.rows_duplicate, 0) - coalesce(d.rows_conflict, 0) as rows_loaded,
                   coalesce(d.rows_duplicate, 0) as rows_duplicate, coalesce(d.rows_conflict, 0) as rows_conflict,
                   s.extra_rows
            from staged as s left join contested as d using (file_idx)
        )
        select {batch_id}, {lit(stream)}, f.rel_path, f.content_sha256, f.file_format, f.size_bytes,
               f.mtime_ns,
               case when f.reject_reason is null then 'loaded' else 'rejected' end,
               f.reject_reason,
               coalesce(s.rows_read, 0), coalesce(c.rows_loaded, 0), coalesce(c.rows_duplicate, 0),
               coalesce(s.rows_invalid, 0) + coalesce(c.rows_conflict, 0), coalesce(c.extra_rows, 0),
               {lit(version)}, current_timestamp
        from _files as f
        left join staged as s using (file_idx)
        left join classified as c using (file_idx)
        """
    )
