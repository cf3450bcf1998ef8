"""`coachwh gdpr request ...` and `coachwh gdpr status`: filing data-subject requests and following them.

Filing only writes a landing file (see requests.py); the next `coachwh run` loads and processes it.
"""

from __future__ import annotations

import argparse
from typing import Any

from dagster_project.config import Settings
from dagster_project.console import print_table
from dagster_project.errors import CoachwhError
from dagster_project.governance.requests import REQUEST_TYPES, STREAM, SUBJECT_TYPES, file_request
from dagster_project.warehouse import table_exists


def add_gdpr_commands(subparsers: Any) -> None:
    """Add `gdpr request` and `gdpr status` to the `coachwh` sub-command parsers."""
    gdpr = subparsers.add_parser("gdpr", help="data-subject requests: access, portability, erasure")
    gdpr_sub = gdpr.add_subparsers(dest="gdpr_command", required=True)

    request = gdpr_sub.add_parser(
        "request", help="file a data-subject request; the next `coachwh run` processes it"
    )
    # Values are checked by file_request, so a wrong one gets the same one-line message as the rest.
    request.add_argument("--type", dest="request_type", required=True, help=" | ".join(REQUEST_TYPES))
    request.add_argument("--subject-type", required=True, help=" | ".join(SUBJECT_TYPES))
    request.add_argument("--subject-id", required=True, help="the user_id or client_id of the data subject")
    request.add_argument("--reason", required=True, help="why (kept with the request and in the audit trail)")
    request.set_defaults(func=cmd_gdpr_request)

    status = gdpr_sub.add_parser("status", help="show data-subject requests and where they stand")
    status.add_argument("--request-id", help="show only this request")
    status.set_defaults(func=cmd_gdpr_status)


def cmd_gdpr_request(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    request_id = file_request(settings, args.request_type, args.subject_type, args.subject_id, args.reason)
    print(f"filed {args.request_type} request {request_id} for {args.subject_type} {args.subject_id}")
    print("it will be processed by the next `coachwh run`")
    print(f"follow it with: coachwh gdpr status --request-id {request_id}")
    return 0


# Without marts.gdpr_requests (dbt not run yet): the raw requests with what processing recorded.
_FALLBACK_SQL = """
    select r.request_id, r.request_type, r.subject_type, r.subject_id, r.requested_at,
           coalesce(s.status, 'pending') as status, s.outcome, s.attempts, s.last_error, s.completed_at,
           s.export_path
    from raw.gdpr_requests as r
    left join governance.gdpr_request_status as s using (request_id)
"""


def cmd_gdpr_status(args: argparse.Namespace) -> int:
    from dagster_project.warehouse import connection

    settings = Settings.from_env()
    if not settings.duckdb_path.exists():
        return _not_loaded_yet(settings, args.request_id)
    with connection(settings, read_only=True) as conn:
        source = "marts.gdpr_requests" if table_exists(conn, "marts", "gdpr_requests") else None
        if source is None and not (table_exists(conn, "raw", STREAM) and table_exists(conn, "governance", "gdpr_request_status")):
            return _not_loaded_yet(settings, args.request_id)
        sql = f"select * from ({_FALLBACK_SQL if source is None else 'select * from ' + source}) as q"
        params: list[Any] = []
        if args.request_id:
            sql += " where request_id = ?"
            params.append(args.request_id)
        cursor = conn.execute(sql, params)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    # Oldest first; sorted here because the mart's columns are its own to choose.
    order = [columns.index(c) for c in ("requested_at", "request_id") if c in columns]
    rows.sort(key=lambda row: tuple(str(row[i]) for i in order))
    if not rows:
        return _not_loaded_yet(settings, args.request_id)
    print_table(columns, rows)
    return 0


def _not_loaded_yet(settings: Settings, request_id: str | None) -> int:
    """No row for it in the warehouse: say whether it is filed and waiting, or unknown."""
    if request_id is None:
        print("no data-subject requests loaded yet")
        return 0
    if (settings.landing_dir / STREAM / f"coachwh-cli-{request_id}.jsonl").exists():
        print(f"{request_id}: filed, not loaded yet; it will be processed by the next `coachwh run`")
        return 0
    raise CoachwhError(f"no request {request_id} in the warehouse or the landing zone; check the id")
