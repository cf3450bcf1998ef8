"""Closing a billing month (spec §3.10; docs/billing.md).

A close copies the month's statements as they are now (marts.billing_statements, open rows), the
per-log charges they cover and the adjustments booked into the month into append-only tables of
schema `billing`, and records the month in billing.closed_months, all in ONE transaction: a crash
leaves the month either open or closed, never half-closed. Nothing ever updates or deletes those
tables, so a closed statement is byte-for-byte the same after any later run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from dagster_project import lake
from dagster_project.audit.trail import record
from dagster_project.billing.figures import Figures, current_figures
from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import transaction


@dataclass(frozen=True)
class CloseResult:
    billing_month: date
    newly_closed: bool
    statements: int
    adjustments_frozen: int
    month_digest: str


def parse_month(text: str) -> date:
    """'2026-10' -> date(2026, 10, 1), or a one-line error."""
    try:
        year, month = (int(part) for part in text.split("-")[:2])
        return date(year, month, 1)
    except ValueError as exc:
        raise CoachwhError(f"month {text!r} is not YYYY-MM; use e.g. --month 2026-10") from exc


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def closes_at(month: date, grace_days: int) -> datetime:
    """The earliest instant month can close: its end (UTC) plus the grace period."""
    return datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC) + timedelta(days=grace_days)


def closed_months(conn: duckdb.DuckDBPyConnection) -> list[date]:
    return [m for (m,) in conn.execute("select billing_month from billing.closed_months order by 1").fetchall()]


def _open_months(conn: duckdb.DuckDBPyConnection, figures: Figures) -> list[date]:
    rows = conn.execute(
        f"select distinct billing_month from {figures.statements} where not is_closed order by 1"
    ).fetchall()
    return [m for (m,) in rows]


def due_months(
    conn: duckdb.DuckDBPyConnection, as_of: datetime, grace_days: int, figures: Figures | None = None
) -> list[date]:
    """Months not closed yet whose end plus grace is at or before as_of, oldest first.

    Closes are contiguous: every month from the one after the last closed month (or the first
    month with a statement) up to the latest due month, statements or not.
    """
    closed = closed_months(conn)
    open_months = _open_months(conn, figures or current_figures(conn)) if not closed else []
    if closed:
        first = next_month(closed[-1])
    elif open_months:
        first = open_months[0]
    else:
        return []
    months = []
    month = first
    while closes_at(month, grace_days) <= as_of:
        months.append(month)
        month = next_month(month)
    return months


def close_through(
    conn: duckdb.DuckDBPyConnection, month: date, as_of: datetime, grace_days: int, actor: str,
    run_id: str | None = None,
) -> list[CloseResult]:
    """Close `month` and every earlier month still open, in order; refuse if month is not due."""
    if closes_at(month, grace_days) > as_of:
        raise CoachwhError(
            f"{month:%Y-%m} cannot be closed before {closes_at(month, grace_days).isoformat()} "
            f"(its end plus {grace_days} days' grace); as of {as_of.isoformat()} it is still open"
        )
    closed = closed_months(conn)
    if month in closed:
        return [_result_of_closed(conn, month)]
    results = [
        _close_one(conn, m, as_of, grace_days, actor, run_id)
        for m in due_months(conn, as_of, grace_days)
        if m <= month
    ]
    # Spark targets: publish the ledger, so the next build shows these months closed.
    lake.sync_if_enabled(conn, Settings.from_env())
    return results


def _result_of_closed(conn: duckdb.DuckDBPyConnection, month: date) -> CloseResult:
    statements, digest = conn.execute(
        "select statements, month_digest from billing.closed_months where billing_month = ?", [month]
    ).fetchall()[0]
    return CloseResult(month, newly_closed=False, statements=statements, adjustments_frozen=0, month_digest=digest)


def _close_one(
    conn: duckdb.DuckDBPyConnection, month: date, as_of: datetime, grace_days: int, actor: str, run_id: str | None
) -> CloseResult:
    closed_at = datetime.now(UTC)
    # The engine that built the marts (billing/figures.py): read again for each month, since
    # closing the previous one moves the pending adjustments.
    figures = current_figures(conn)
    with transaction(conn):
        conn.execute(
            f"""
            insert into billing.closed_statements
            select user_id, billing_month, plan, subscription_fee_usd, included_minutes, billable_seconds,
                   billable_minutes, minutes_over_quota, usage_charges_usd, adjustments_usd, total_usd,
                   usage_log_count, statement_digest, ?
            from {figures.statements}
            where billing_month = ? and not is_closed
            """,
            [closed_at, month],
        )
        conn.execute(
            f"""
            insert into billing.closed_log_charges
            select usage_log_id, user_id, billing_month, transcription_type, billable_seconds, cost_usd, ?
            from {figures.log_charges}
            where billing_month = ?
            """,
            [closed_at, month],
        )
        conn.execute(
            f"""
            insert into billing.closed_adjustments
            select adjustment_id, user_id, usage_log_id, original_month, applied_month, reason,
                   delta_billable_seconds, delta_usage_charges_usd, created_at, ?
            from {figures.adjustments}
            where applied_month = ? and not is_final
            """,
            [closed_at, month],
        )
        digests = [d for (d,) in conn.execute(
            "select statement_digest from billing.closed_statements where billing_month = ? order by user_id", [month]
        ).fetchall()]
        adjustments = conn.execute(
            "select count(*) from billing.closed_adjustments where applied_month = ?", [month]
        ).fetchall()[0][0]
        month_digest = hashlib.sha256("\n".join(digests).encode()).hexdigest()
        conn.execute(
            "insert into billing.closed_months values (?, ?, ?, ?, ?, ?, ?, ?)",
            [month, closed_at, as_of, grace_days, len(digests), month_digest, run_id, actor],
        )
        record(conn, "billing_close", entity_type="billing_month", entity_id=f"{month:%Y-%m}",
               counts={"statements": len(digests), "adjustments_frozen": adjustments},
               after={"month_digest": month_digest, "as_of": as_of.isoformat(), "grace_days": grace_days},
               run_id=run_id, actor=actor)
    return CloseResult(month, newly_closed=True, statements=len(digests), adjustments_frozen=adjustments,
                       month_digest=month_digest)


def statement_digest(row: dict, usage_log_ids: list[str]) -> str:
    """Re-derive a statement's digest from its fields and the ids of the usage logs it covers."""
    included = "unlimited" if row["included_minutes"] is None else str(row["included_minutes"])
    parts = [
        row["user_id"], row["billing_month"].isoformat(), row["plan"], f"{row['subscription_fee_usd']:f}", included,
        str(row["billable_minutes"]), f"{row['usage_charges_usd']:f}", f"{row['adjustments_usd']:f}",
        f"{row['total_usd']:f}", ",".join(sorted(usage_log_ids)),
    ]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def verify_closed_digests(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, date]]:
    """The closed statements whose digest no longer matches their fields and usage logs."""
    cursor = conn.execute(
        """
        select s.*, coalesce(list(c.usage_log_id) filter (where c.usage_log_id is not null), []) as usage_log_ids
        from billing.closed_statements as s
        left join billing.closed_log_charges as c using (user_id, billing_month)
        group by all
        """
    )
    names = [d[0] for d in cursor.description]
    broken = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        if statement_digest(row, row["usage_log_ids"]) != row["statement_digest"]:
            broken.append((row["user_id"], row["billing_month"]))
    return broken
