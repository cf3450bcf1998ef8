"""`coachwh audit verify` and `coachwh audit digest`: checking the hash chain of audit.audit_logs."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from dagster_project.audit.search import COLUMNS, AuditQuery, search
from dagster_project.audit.trail import verify
from dagster_project.config import Settings
from dagster_project.console import print_table
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import connection


def add_audit_commands(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser("audit", help="the warehouse's hash-chained audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser("verify", help="walk the chain: OK with count and head hash, or the first break")
    check.add_argument("--against", metavar="HASH",
                       help="a head hash kept outside the warehouse (from `coachwh audit digest`) that the chain "
                            "must still contain")
    check.set_defaults(func=cmd_verify)
    digest = audit_sub.add_parser("digest", help="print the head hash, to keep outside the warehouse")
    digest.set_defaults(func=cmd_digest)
    find = audit_sub.add_parser("search", help="records of the warehouse's trail and the platform's audit events, "
                                               "newest first")
    find.add_argument("--entity-type", help="e.g. client, user, landing_file, billing_month, usage_log")
    find.add_argument("--entity-id", help="the entity's id (a person's id also finds its pseudonym in the trail)")
    find.add_argument("--operation", help="a warehouse operation or platform event type, e.g. gdpr_erasure")
    find.add_argument("--since", help="only records at or after this date or instant (ISO-8601)")
    find.add_argument("--limit", type=int, default=50, help="at most this many rows, 1 to 1000 (default 50)")
    find.set_defaults(func=cmd_search)


def cmd_verify(args: argparse.Namespace) -> int:
    with connection(Settings.from_env(), read_only=True) as conn:
        status = verify(conn, against=args.against)
    print(status.summary())
    return 0 if status.ok else 1


def cmd_search(args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CoachwhError(f"--since {args.since!r} is not a date or ISO-8601 instant; use e.g. 2026-01-01") from exc
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    query = AuditQuery(args.entity_type, args.entity_id, args.operation, since, args.limit)
    settings = Settings.from_env()
    with connection(settings, read_only=True) as conn:
        rows = search(conn, settings, query)
    print_table(COLUMNS, rows)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    with connection(Settings.from_env(), read_only=True) as conn:
        status = verify(conn)
    if not status.ok:
        print(status.summary())
        return 1
    print(status.head_hash)
    return 0
