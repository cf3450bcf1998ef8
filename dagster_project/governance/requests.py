"""Data-subject requests: filing one into the landing zone, and listing those still to process.

A request filed from the command line is written as a one-line file of the `gdpr_requests` stream,
exactly as the platform would deliver it, so it goes through the same contract validation, ledger
and audit of ingestion as every other request; the next `coachwh run` loads and processes it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from dagster_project.audit.trail import resolve_actor
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import table_exists

REQUEST_TYPES = ("access", "portability", "erasure")
SUBJECT_TYPES = ("user", "client")
STREAM = "gdpr_requests"
# Limits of data_contracts/gdpr_requests.odcs.yaml, checked here so a bad request fails now, with a
# message, rather than in quarantine on the next run.
MAX_ID_LENGTH = 64
MAX_REQUESTED_BY_LENGTH = 200
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class GdprRequest:
    """One request as loaded into raw.gdpr_requests, with what processing has recorded so far."""

    request_id: str
    requested_at: datetime
    request_type: str
    subject_type: str
    subject_id: str
    requested_by: str
    reason: str | None
    status: str | None  # None = never attempted, 'failed' = retried; completed ones are not pending
    attempts: int


def new_request_id() -> str:
    return f"gdpr_{uuid.uuid4().hex[:12]}"


def validate_request(request_type: str, subject_type: str, subject_id: str, reason: str, requested_by: str) -> None:
    """Raise CoachwhError (one line saying what to fix) unless the request would pass its contract."""
    if request_type not in REQUEST_TYPES:
        raise CoachwhError(f"--type must be one of {', '.join(REQUEST_TYPES)} (got {request_type!r})")
    if subject_type not in SUBJECT_TYPES:
        raise CoachwhError(f"--subject-type must be one of {', '.join(SUBJECT_TYPES)} (got {subject_type!r})")
    if not subject_id or not subject_id.strip() or subject_id != subject_id.strip():
        raise CoachwhError("--subject-id must be a non-empty id without surrounding spaces")
    if len(subject_id) > MAX_ID_LENGTH:
        raise CoachwhError(f"--subject-id must be at most {MAX_ID_LENGTH} characters")
    if not reason or not reason.strip():
        raise CoachwhError('--reason "why" is required: requests are audited with their reason')
    if len(reason) > MAX_REASON_LENGTH:
        raise CoachwhError(f"--reason must be at most {MAX_REASON_LENGTH} characters")
    if not requested_by or len(requested_by) > MAX_REQUESTED_BY_LENGTH:
        raise CoachwhError(
            f"the requester (COACHWH_ACTOR or the OS user) must be 1 to {MAX_REQUESTED_BY_LENGTH} characters"
        )


def file_request(
    settings: Settings,
    request_type: str,
    subject_type: str,
    subject_id: str,
    reason: str,
    requested_by: str | None = None,
) -> str:
    """Write the request as landing/gdpr_requests/coachwh-cli-<request_id>.jsonl; return request_id."""
    requester = requested_by if requested_by is not None else resolve_actor()
    validate_request(request_type, subject_type, subject_id, reason, requester)
    landing = settings.landing_dir
    if not landing.is_dir():
        raise CoachwhError(
            f"landing directory {landing} does not exist; create it or set COACHWH_LANDING_DIR, then file again"
        )
    request_id = new_request_id()
    record = {
        "request_id": request_id,
        "requested_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "request_type": request_type,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "requested_by": requester,
        # Not in the contract: kept as an extra field, which ingestion keeps and counts.
        "reason": reason,
    }
    folder = landing / STREAM
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"coachwh-cli-{request_id}.jsonl"
    # Written under a dot-name first (ingestion skips those) and renamed: a run that lists the
    # folder meanwhile never sees half a line.
    temp = folder / f".{final.name}.tmp"
    temp.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temp, final)
    return request_id


def pending_requests(conn: duckdb.DuckDBPyConnection, request_types: tuple[str, ...] = REQUEST_TYPES) -> list[GdprRequest]:
    """Requests in raw.gdpr_requests without a completed status row, oldest first (failed ones included)."""
    if not table_exists(conn, "raw", STREAM) or not table_exists(conn, "governance", "gdpr_request_status"):
        return []
    placeholders = ", ".join("?" for _ in request_types)
    rows = conn.execute(
        f"""
        select r.request_id, r.requested_at, r.request_type, r.subject_type, r.subject_id, r.requested_by,
               json_extract_string(r._extra_fields, '$.reason') as reason, s.status, coalesce(s.attempts, 0)
        from raw.gdpr_requests as r
        left join governance.gdpr_request_status as s using (request_id)
        where coalesce(s.status, 'pending') <> 'completed' and r.request_type in ({placeholders})
        order by r.requested_at, r.request_id
        """,
        list(request_types),
    ).fetchall()
    return [GdprRequest(*row) for row in rows]
