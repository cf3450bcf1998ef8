"""Builds COACHWH_HOME/reports/admin_dashboard.html: the one function the asset and `coachwh report` call."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.reporting.dashboard_checks import CheckResult
from dagster_project.reporting.dashboard_data import collect_dashboard_data
from dagster_project.reporting.dashboard_figures import build_charts
from dagster_project.reporting.dashboard_html import render_page
from dagster_project.warehouse import connection

REPORT_NAME = "admin_dashboard.html"


@dataclass(frozen=True)
class DashboardReport:
    path: Path
    size_bytes: int
    charts: int
    default_range: tuple[str, str] | None
    checks: int | None
    kpi_markdown: str
    data: dict[str, Any]


def dashboard_path(settings: Settings) -> Path:
    return settings.home / "reports" / REPORT_NAME


def kpi_markdown(data: dict[str, Any]) -> str:
    """The default range's KPIs as a Markdown table (the asset's metadata preview)."""
    chosen = data["default_range"]
    if not chosen:
        return "No usage or billing data yet."
    figures = data["kpis"][f"{chosen['from']}:{chosen['to']}"]
    lines = [f"| KPI ({chosen['from']} to {chosen['to']}) | value |", "|---|---:|"]
    lines += [f"| {label} | {figures[key]['display']} |" for key, label in data["kpi_labels"]]
    return "\n".join(lines)


def build_dashboard(
    settings: Settings,
    checks: Sequence[CheckResult] | None,
    default_range: tuple[str, str] | None = None,
    path: Path | None = None,
) -> DashboardReport:
    """Query the warehouse (read-only), render the page and replace the file atomically."""
    try:
        with connection(settings, read_only=True) as conn:
            data = collect_dashboard_data(conn, checks, default_range)
    except duckdb.CatalogException as exc:
        missing = str(exc).splitlines()[0]
        raise CoachwhError(f"the warehouse is not built yet ({missing}); run `coachwh run` first") from exc
    charts = build_charts(data)
    page = render_page(data, charts)
    target = path or dashboard_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: a browser never opens half a page.
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    scratch.write_text(page, encoding="utf-8")
    os.replace(scratch, target)
    chosen = data["default_range"]
    return DashboardReport(
        path=target,
        size_bytes=target.stat().st_size,
        charts=len(charts),
        default_range=(chosen["from"], chosen["to"]) if chosen else None,
        checks=None if checks is None else len(checks),
        kpi_markdown=kpi_markdown(data),
        data=data,
    )
