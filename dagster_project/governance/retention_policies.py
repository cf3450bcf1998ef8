"""The retention policies: rows of the dbt seed `data_retention_policies` (spec §4.6).

Read from `reference.data_retention_policies` once dbt has loaded the seed, else from the seed's CSV
file, so retention can run before the first build. A row that cannot be applied (a bad number)
carries its problem, which the run reports as a failed policy instead of stopping.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import table_exists

POLICIES_TABLE = ("reference", "data_retention_policies")
POLICIES_CSV = DBT_PROJECT_DIR / "seeds" / "data_retention_policies.csv"


@dataclass(frozen=True)
class RetentionPolicy:
    data_category: str
    action: str
    retention_days: int | None
    grace_days: int
    problem: str | None = None  # why the row cannot be applied; reported as a failed policy

    def cutoff(self, as_of: datetime) -> datetime | None:
        """Items older than this are due; None when retention is unlimited."""
        if self.retention_days is None:
            return None
        return as_of - timedelta(days=self.retention_days + self.grace_days)


def _whole(value: Any, name: str, problems: list[str]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        problems.append(f"{name} {value!r} is not a whole number")
        return None
    if number < 0:
        problems.append(f"{name} {number} is negative")
        return None
    return number


def _policy(category: Any, action: Any, retention_days: Any, grace_days: Any) -> RetentionPolicy:
    problems: list[str] = []
    days = _whole(retention_days, "retention_days", problems)
    grace = _whole(grace_days, "grace_days", problems)
    return RetentionPolicy(
        data_category=str(category or "").strip(),
        action=str(action or "").strip().lower(),
        retention_days=days,
        grace_days=grace or 0,
        problem="; ".join(problems) or None,
    )


def load_policies(conn: duckdb.DuckDBPyConnection, csv_path: Path = POLICIES_CSV) -> list[RetentionPolicy]:
    """The policies from reference.data_retention_policies, else from the seed's CSV file.

    The CSV fallback lets retention run before the first dbt build has loaded the seed.
    """
    if table_exists(conn, *POLICIES_TABLE):
        rows = conn.execute(
            "select data_category, action, retention_days, grace_days from reference.data_retention_policies "
            "order by data_category"
        ).fetchall()
        return [_policy(*row) for row in rows]
    if not csv_path.exists():
        raise CoachwhError(
            f"no retention policies: neither reference.data_retention_policies nor {csv_path} exists; "
            f"add the seed (data_category, description, retention_days, action, grace_days)"
        )
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    policies = [_policy(r.get("data_category"), r.get("action"), r.get("retention_days"), r.get("grace_days"))
                for r in rows]
    return sorted(policies, key=lambda p: p.data_category)
