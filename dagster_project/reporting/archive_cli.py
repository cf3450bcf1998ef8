"""`coachwh archive --month YYYY-MM` and `coachwh archive verify`: the CLI of reporting/archive.py."""

from __future__ import annotations

import argparse

from dagster_project.audit.trail import resolve_actor
from dagster_project.billing.close import parse_month
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.reporting.archive import archive_month, verify_archives
from dagster_project.warehouse import connection


def add_archive_commands(subparsers: argparse._SubParsersAction) -> None:
    archive = subparsers.add_parser(
        "archive", help="archive a closed billing month as Parquet with a manifest (or verify archives)",
        description="Write the closed month's usage logs, statements and adjustments to "
                    "COACHWH_HOME/archive/<YYYY-MM>/ as Parquet with manifest.json (docs/archive.md).",
    )
    archive.add_argument("--month", help="the closed billing month to archive, YYYY-MM")
    archive.add_argument("--force", action="store_true",
                         help="rewrite an archive that differs from the warehouse now (needs --reason)")
    archive.add_argument("--reason", help="why the archive is rewritten (required with --force; audited)")
    archive.set_defaults(func=cmd_archive)
    archive_sub = archive.add_subparsers(dest="archive_command")
    verify = archive_sub.add_parser(
        "verify", help="re-hash and re-read archives; compare them with their manifest and the warehouse")
    verify.add_argument("--month", help="one month, YYYY-MM (default: every archived month)")
    verify.set_defaults(func=cmd_archive_verify)


def _require_warehouse(settings: Settings) -> None:
    # A read-write open would create an empty warehouse file: say how to build one instead.
    if not settings.duckdb_path.exists():
        raise CoachwhError(f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run` or `coachwh demo`")


def cmd_archive(args: argparse.Namespace) -> int:
    if not args.month:
        raise CoachwhError("say which month: `coachwh archive --month YYYY-MM` (or `coachwh archive verify`)")
    if args.reason and not args.force:
        raise CoachwhError("--reason goes with --force (rewriting an archive that differs from the warehouse)")
    month = parse_month(args.month)
    settings = Settings.from_env()
    _require_warehouse(settings)
    with connection(settings) as conn:
        result = archive_month(conn, settings, month, force=args.force, reason=args.reason, actor=resolve_actor())
    print(result.summary())
    return 0


def cmd_archive_verify(args: argparse.Namespace) -> int:
    month = parse_month(args.month) if args.month else None
    settings = Settings.from_env()
    _require_warehouse(settings)
    with connection(settings, read_only=True) as conn:
        results = verify_archives(conn, settings, month)
    if not results:
        print(f"no archived months in {settings.archive_dir}; archive one with `coachwh archive --month YYYY-MM`")
        return 0
    for result in results:
        print(result.line())
    return 0 if all(r.ok for r in results) else 1
