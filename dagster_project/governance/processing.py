"""Processing pending data-subject requests: erasures after ingestion, packages after the marts.

Each request is handled on its own: a failure leaves that request `failed` with a short reason
(never PII) in governance.gdpr_request_status, audited, and processing goes on with the next one;
a failed request is pending again on the next run. A request becomes `completed` only in the
transaction that records its outcome, after the work it describes is done.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from dagster_project.audit.trail import record
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.governance.erasure import ErasureFailed, ErasureJob, ErasureResult, erase_subjects
from dagster_project.governance.exports import SubjectKey, UsagePart, usage_logs_of, write_package
from dagster_project.governance.pseudonyms import load_key, pseudonym
from dagster_project.governance.requests import GdprRequest, pending_requests
from dagster_project.warehouse import ensure_schema, transaction

log = logging.getLogger(__name__)

ERASURE_OPERATION = "gdpr_erasure"
EXPORT_OPERATION = "gdpr_export"
MAX_ERROR_LENGTH = 400


@dataclass(frozen=True)
class RequestResult:
    request_id: str
    request_type: str
    subject_type: str
    status: str  # completed | failed
    outcome: str | None
    error: str | None = None
    export_path: str | None = None


@dataclass
class ProcessingReport:
    results: list[RequestResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.results if r.outcome))

    def summary(self) -> str:
        if not self.results:
            return "no pending requests"
        text = f"{len(self.results)} requests: {self.count('completed')} completed, {self.count('failed')} failed"
        return text + "".join(f", {n} {o}" for o, n in sorted(self.outcomes().items()))


def _upsert_status(
    conn: duckdb.DuckDBPyConnection,
    request: GdprRequest,
    status: str,
    *,
    outcome: str | None = None,
    error: str | None = None,
    export_path: str | None = None,
    vault_rows_erased: int | None = None,
) -> None:
    """Replace the request's status row (delete + insert), counting this attempt; caller's transaction."""
    now = datetime.now(UTC)
    previous = conn.execute(
        "select attempts, first_attempt_at from governance.gdpr_request_status where request_id = ?",
        [request.request_id],
    ).fetchall()
    attempts, first_attempt_at = (previous[0][0] + 1, previous[0][1]) if previous else (1, now)
    conn.execute("delete from governance.gdpr_request_status where request_id = ?", [request.request_id])
    conn.execute(
        "insert into governance.gdpr_request_status values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [request.request_id, request.request_type, request.subject_type, request.subject_id, status, outcome,
         attempts, error, first_attempt_at, now, now if status == "completed" else None, export_path,
         vault_rows_erased],
    )


def _short(exc: BaseException) -> str:
    """A failure's reason for the status row: our own messages are PII-free; others by type only."""
    # An unexpected error's message may quote data: its type is enough there.
    text = str(exc) if isinstance(exc, CoachwhError) else f"unexpected {type(exc).__name__}"
    return text[:MAX_ERROR_LENGTH]


def _reason(request: GdprRequest) -> str:
    return request.reason or f"GDPR {request.request_type} request {request.request_id}"


def _record_failure(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    request: GdprRequest,
    operation: str,
    error: str,
    run_id: str | None,
    actor: str | None,
    vault_rows_erased: int | None = None,
) -> None:
    with transaction(conn):
        _upsert_status(conn, request, "failed", error=error, vault_rows_erased=vault_rows_erased)
        record(
            conn,
            operation,
            entity_type=request.subject_type,
            entity_id=pseudonym(load_key(settings), request.subject_type, request.subject_id),
            after={"status": "failed", "request_id": request.request_id, "error": error},
            reason=_reason(request),
            run_id=run_id,
            actor=actor,
        )


def _rows_erased_before(conn: duckdb.DuckDBPyConnection, request_id: str) -> int:
    found = conn.execute(
        "select coalesce(vault_rows_erased, 0) from governance.gdpr_request_status where request_id = ?",
        [request_id],
    ).fetchall()
    return int(found[0][0]) if found else 0


def _vault_rows_now(conn: duckdb.DuckDBPyConnection, request: GdprRequest) -> int:
    """The subject's vault rows still there: after a failed attempt, what that attempt did not erase."""
    return conn.execute(
        "select (select count(*) from vault.pii where subject_type = $t and subject_id = $i)"
        " + (select count(*) from vault.extra_fields where subject_type = $t and subject_id = $i)",
        {"t": request.subject_type, "i": request.subject_id},
    ).fetchall()[0][0]


def process_erasures(
    settings: Settings, conn: duckdb.DuckDBPyConnection, run_id: str | None = None, actor: str | None = None
) -> ProcessingReport:
    """Erase the subject of every pending erasure request, with one vault rewrite (governance/erasure.py)."""
    ensure_schema(conn)
    report = ProcessingReport()
    requests = pending_requests(conn, ("erasure",))
    jobs: list[ErasureJob] = []
    rows_at_start: list[int] = []
    for request in requests:

        def finalize(c: duckdb.DuckDBPyConnection, result: ErasureResult, request: GdprRequest = request) -> None:
            _upsert_status(c, request, "completed", outcome=result.outcome, vault_rows_erased=result.vault_rows_deleted)

        jobs.append(ErasureJob(
            request.subject_type, request.subject_id, request_id=request.request_id, trigger="request",
            operation=ERASURE_OPERATION, reason=_reason(request), run_id=run_id, actor=actor,
            rows_erased_before=_rows_erased_before(conn, request.request_id), finalize=finalize,
        ))
        rows_at_start.append(_vault_rows_now(conn, request))
    outcomes = erase_subjects(settings, conn, jobs) if jobs else []
    for request, job, at_start, outcome in zip(requests, jobs, rows_at_start, outcomes, strict=True):
        if isinstance(outcome, ErasureResult):
            report.results.append(RequestResult(request.request_id, "erasure", request.subject_type, "completed",
                                                outcome.outcome))
            continue
        # One request's failure does not stop the others.
        error = _short(outcome)
        log.warning("erasure request %s failed: %s", request.request_id, error)
        # Rows this attempt already deleted count toward the request (a retry finds none left).
        try:
            erased = job.rows_erased_before + max(0, at_start - _vault_rows_now(conn, request))
        except duckdb.Error:  # the vault could not be reattached: count what is known
            erased = job.rows_erased_before
        _record_failure(settings, conn, request, ERASURE_OPERATION, error, run_id, actor, erased)
        report.results.append(RequestResult(request.request_id, "erasure", request.subject_type, "failed", None,
                                            error))
    return report


# Export requests whose usage logs are read in one scan of marts.usage_logs: one scan per request
# costs ~45 ms at 10M events, and all requests at once would hold every package's logs in memory.
EXPORT_USAGE_CHUNK = 100


def _usage_logs_of_chunk(conn: duckdb.DuckDBPyConnection, requests: list[GdprRequest]) -> dict[SubjectKey, UsagePart]:
    try:
        return usage_logs_of(conn, [(r.subject_type, r.subject_id) for r in requests])
    except duckdb.Error as exc:
        # Each request then reads its own, and fails (and is recorded) on its own if it must.
        log.warning("reading the usage logs of %s export requests at once failed: %s", len(requests), _short(exc))
        return {}


def process_exports(
    settings: Settings, conn: duckdb.DuckDBPyConnection, run_id: str | None = None, actor: str | None = None
) -> ProcessingReport:
    """Write the package of every pending access or portability request (see governance/exports.py)."""
    ensure_schema(conn)
    report = ProcessingReport()
    key = load_key(settings)
    requests = pending_requests(conn, ("access", "portability"))
    usage: dict[SubjectKey, UsagePart] = {}
    for position, request in enumerate(requests):
        if position % EXPORT_USAGE_CHUNK == 0:
            usage = _usage_logs_of_chunk(conn, requests[position:position + EXPORT_USAGE_CHUNK])
        try:
            package = write_package(settings, conn, request, usage.get((request.subject_type, request.subject_id)))
            export_path = str(package.path) if package.path else None
            with transaction(conn):
                _upsert_status(conn, request, "completed", outcome=package.outcome, export_path=export_path)
                record(
                    conn,
                    EXPORT_OPERATION,
                    entity_type=request.subject_type,
                    entity_id=pseudonym(key, request.subject_type, request.subject_id),
                    counts={**package.rows, "files": len(package.files)},
                    after={"outcome": package.outcome, "request_id": request.request_id,
                           "request_type": request.request_type,
                           "files": {f["name"]: f["sha256"] for f in package.files}},
                    reason=_reason(request),
                    run_id=run_id,
                    actor=actor,
                )
            report.results.append(RequestResult(request.request_id, request.request_type, request.subject_type,
                                                "completed", package.outcome, export_path=export_path))
        except Exception as exc:
            error = _short(exc)
            log.warning("%s request %s failed: %s", request.request_type, request.request_id, error)
            _record_failure(settings, conn, request, EXPORT_OPERATION, error, run_id, actor)
            report.results.append(RequestResult(request.request_id, request.request_type, request.subject_type,
                                                "failed", None, error))
    return report


__all__ = ["ErasureFailed", "ProcessingReport", "RequestResult", "process_erasures", "process_exports"]
