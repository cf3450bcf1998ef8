"""`coachwh audit verify` and `coachwh audit digest`: checking the hash chain of audit.audit_logs."""

from __future__ import annotations

import argparse

from dagster_project.audit.trail import verify
from dagster_project.config import Settings
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


def cmd_verify(args: argparse.Namespace) -> int:
    with connection(Settings.from_env(), read_only=True) as conn:
        status = verify(conn, against=args.against)
    print(status.summary())
    return 0 if status.ok else 1


def cmd_digest(args: argparse.Namespace) -> int:
    with connection(Settings.from_env(), read_only=True) as conn:
        status = verify(conn)
    if not status.ok:
        print(status.summary())
        return 1
    print(status.head_hash)
    return 0
