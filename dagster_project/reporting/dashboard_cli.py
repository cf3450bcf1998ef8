"""`coachwh report`: rebuild the admin dashboard from the warehouse as it is now, and say where it is."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dagster_project.config import Settings
from dagster_project.errors import CoachwhError

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    if not MONTH.match(text):
        raise CoachwhError(f"{option} {text!r} is not a month; write it as YYYY-MM, e.g. 2026-10")
    return text


def cmd_report(args: argparse.Namespace) -> int:
    from dagster_project.reporting.dashboard import build_dashboard
    from dagster_project.reporting.dashboard_checks import check_results_from_home

    settings = Settings.from_env()
    start, end = _month(args.from_month, "--from"), _month(args.to_month, "--to")
    if not settings.duckdb_path.exists():
        raise CoachwhError(f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run` or `coachwh demo`")
    checks = check_results_from_home(settings)
    report = build_dashboard(settings, checks, default_range=(start or "", end or "") if start or end else None)
    opened = f"{report.default_range[0]} to {report.default_range[1]}" if report.default_range else "no data yet"
    print(f"dashboard: {report.path}")
    print(f"  {report.size_bytes / 1e6:.1f} MB, {report.charts} charts, opens on {opened}, "
          f"{'no check results yet' if report.checks is None else f'{report.checks} check results'}")
    if args.screenshot:
        from dagster_project.reporting.browser import screenshot

        print(f"  screenshot: {screenshot(report.path, Path(args.screenshot).expanduser().resolve())}")
    print(f"open it in a browser (no server needed): {report.path.as_uri()}")
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="rebuild the admin dashboard (COACHWH_HOME/reports/admin_dashboard.html)")
    report.add_argument("--from", dest="from_month", help="first month the page opens on, YYYY-MM (default: the first)")
    report.add_argument("--to", dest="to_month", help="last month the page opens on, YYYY-MM (default: the last)")
    report.add_argument("--screenshot", help="also save a PNG of the page here (needs Chromium: make browser)")
    report.set_defaults(func=cmd_report)
