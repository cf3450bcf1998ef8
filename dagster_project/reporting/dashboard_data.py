"""Everything the admin dashboard shows, as one JSON-ready dict of aggregates.

KPIs and heavy users are computed in SQL for every month range (N months give N(N+1)/2 ranges),
so the page looks a range up instead of recomputing it: what it shows for a range is exactly what
SQL computes for that range. Trends are per day and per month; the page filters them to the
range. Money is DECIMAL in SQL, carried as exact decimal strings (`value`) beside display strings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb

from dagster_project.errors import CoachwhError
from dagster_project.reporting import dashboard_sql as sql
from dagster_project.reporting.dashboard_checks import CheckResult
from dagster_project.reporting.dashboard_compliance import collect_compliance

# Heavy users listed per range (the count and share cover all of them).
HEAVY_ROWS_SHOWN = 25

# The KPI tiles, in page order: key, label, kind of figure.
KPIS: tuple[tuple[str, str, str], ...] = (
    ("active_coaches", "Active coaches", "count"),
    ("transcriptions", "Transcriptions", "count"),
    ("failed_attempts", "Failed attempts", "count"),
    ("error_rate_pct", "Error rate", "pct"),
    ("revenue_usd", "Revenue", "money"),
    ("provider_cost_usd", "Provider cost", "money"),
    ("gross_margin_usd", "Gross margin", "money"),
    ("gross_margin_pct", "Gross margin %", "pct"),
    ("free_retry_cost_usd", "Free-retry cost absorbed", "money"),
)

TRANSCRIPTION_TYPES: tuple[tuple[str, str], ...] = (
    ("original", "Original"),
    ("retry_failed", "Free retry"),
    ("retry_success", "Paid re-transcription"),
)


def range_key(range_from: str, range_to: str) -> str:
    return f"{range_from}:{range_to}"


def money(value: Decimal | None) -> str:
    """`$1,234.57`: half-up to the cent (the exact value is kept beside it)."""
    if value is None:
        return "n/a"
    cents = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-cents:,}" if cents < 0 else f"${cents:,}"


def _display(kind: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if kind == "money":
        return money(value)
    if kind == "pct":
        return f"{value}%"
    return f"{value:,}"


def _fetch(conn: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    cursor = conn.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _kpis(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, str | None]]]:
    by_range: dict[str, dict[str, dict[str, str | None]]] = {}
    for row in rows:
        by_range[range_key(row["range_from"], row["range_to"])] = {
            key: {"value": None if row[key] is None else str(row[key]), "display": _display(kind, row[key])}
            for key, _, kind in KPIS
        }
    return by_range


def _heavy_users(rows: Iterable[dict[str, Any]], ranges: Iterable[str]) -> dict[str, dict[str, Any]]:
    by_range: dict[str, dict[str, Any]] = {
        key: {"heavy_users": 0, "heavy_minutes": 0, "all_minutes": 0, "active_coaches": 0, "share_pct": None,
              "rows": []}
        for key in ranges
    }
    for row in rows:
        entry = by_range[range_key(row["range_from"], row["range_to"])]
        entry["heavy_users"] += 1
        entry["heavy_minutes"] += row["billable_minutes"]
        entry["all_minutes"] = row["all_minutes"]
        entry["active_coaches"] = row["active_coaches"]
        if row["rank"] <= HEAVY_ROWS_SHOWN:
            entry["rows"].append([row["pseudonym"], row["billable_minutes"], row["transcriptions"], row["plan"]])
    for entry in by_range.values():
        if entry["all_minutes"]:
            share = Decimal(entry["heavy_minutes"] * 100) / Decimal(entry["all_minutes"])
            entry["share_pct"] = str(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return by_range


def _usage_series(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Transcriptions by type and minutes by provider, per day and per month (months from days: both UTC)."""
    providers = sorted({r["stt_provider"] for r in rows})
    series: dict[str, Any] = {}
    for grain, width in (("daily", 10), ("monthly", 7)):
        counts: dict[tuple[str, str], int] = defaultdict(int)
        seconds: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for r in rows:
            period = r["day"][:width]
            counts[(period, r["transcription_type"])] += r["transcriptions"]
            seconds[(period, r["stt_provider"])] += r["seconds"]
        periods = sorted({r["day"][:width] for r in rows})
        series[grain] = {
            "x": periods,
            "by_type": {t: [counts[(p, t)] for p in periods] for t, _ in TRANSCRIPTION_TYPES},
            "minutes_by_provider": {
                prov: [float((seconds[(p, prov)] / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
                       for p in periods]
                for prov in providers
            },
        }
    return series


def _plans(conn: duckdb.DuckDBPyConnection, months: Sequence[str]) -> dict[str, Any]:
    order = [r["plan"] for r in _fetch(conn, sql.PLAN_ORDER)]
    distribution = _fetch(conn, sql.PLAN_DISTRIBUTION)
    users = {(r["month"], r["plan"]): r["users"] for r in distribution}
    plans = order + sorted({r["plan"] for r in distribution} - set(order))
    changes = [r for r in _fetch(conn, sql.PLAN_CHANGES) if r["month"] in set(months)]
    per_direction = {d: [sum(r["changes"] for r in changes if r["month"] == m and r["direction"] == d)
                         for m in months] for d in ("upgrade", "downgrade")}
    return {
        "months": list(months),
        "users_by_plan": {p: [users.get((m, p), 0) for m in months] for p in plans},
        "changes": per_direction,
        "transitions": [[r["month"], r["from_plan"], r["to_plan"], r["direction"], r["changes"]] for r in changes],
    }


def collect_dashboard_data(
    conn: duckdb.DuckDBPyConnection,
    checks: Sequence[CheckResult] | None,
    default_range: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The dashboard's figures; `checks` None means no check has run yet (no Dagster instance)."""
    conn.execute("set enable_progress_bar = false")  # a report, not a terminal session
    month_rows = _fetch(conn, sql.MONTHS)
    months = [r["month"] for r in month_rows]
    ranges = [range_key(a, b) for i, a in enumerate(months) for b in months[i:]]
    chosen = _default_range(months, default_range)
    money_rows = _fetch(conn, sql.MONTHLY_MONEY)
    return {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "months": months,
        "closed_months": [r["month"] for r in month_rows if r["is_closed"]],
        "default_range": {"from": chosen[0], "to": chosen[1]} if chosen else None,
        "kpi_labels": [[key, label] for key, label, _ in KPIS],
        "kpis": _kpis(_fetch(conn, sql.RANGE_KPIS)),
        "heavy_users": _heavy_users(_fetch(conn, sql.RANGE_HEAVY_USERS), ranges),
        "heavy_rows_shown": HEAVY_ROWS_SHOWN,
        "usage": _usage_series(_fetch(conn, sql.DAILY_USAGE)),
        "transcription_types": [list(t) for t in TRANSCRIPTION_TYPES],
        "money": {
            "months": [r["month"] for r in money_rows],
            **{key: [float(r[key]) for r in money_rows]
               for key in ("revenue_usd", "provider_cost_usd", "gross_margin_usd")},
        },
        "plans": _plans(conn, months),
        "compliance": collect_compliance(conn),
        "checks": None if checks is None else [c.as_dict() for c in checks],
    }


def _default_range(months: Sequence[str], wanted: tuple[str, str] | None) -> tuple[str, str] | None:
    """The range the page opens on: all months unless one was asked for (which must be covered)."""
    if not months:
        return None
    if wanted is None:
        return months[0], months[-1]
    start, end = wanted[0] or months[0], wanted[1] or months[-1]
    for month in (start, end):
        if month not in months:
            raise CoachwhError(
                f"{month} is not a month the warehouse covers ({months[0]} to {months[-1]}); "
                f"choose --from/--to within it (YYYY-MM)"
            )
    if start > end:
        raise CoachwhError(f"--from {start} is after --to {end}; swap them")
    return start, end
