"""The latest result of each asset check, read from the Dagster instance's event log.

Inside the dashboard asset the run's own instance is used; from the CLI the instance in
DAGSTER_HOME (default COACHWH_HOME/dagster), when one exists: without it there are no results yet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from dagster_project.config import Settings

# Worst first: the order the page lists checks in.
STATUS_ORDER = ("failed", "warning", "not run", "passed")


@dataclass(frozen=True)
class CheckResult:
    asset: str
    check: str
    status: str  # passed | failed (severity ERROR) | warning (severity WARN) | not run (planned, skipped)
    severity: str
    evaluated_at: str
    run_id: str
    description: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(key: dg.AssetCheckKey, record: Any) -> CheckResult:
    asset = "/".join(key.asset_key.path)
    when = datetime.fromtimestamp(record.create_timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    evaluation = None
    if record.event is not None and record.event.dagster_event is not None:
        evaluation = record.event.dagster_event.event_specific_data
    if record.status == AssetCheckExecutionRecordStatus.PLANNED or evaluation is None:
        return CheckResult(asset, key.name, "not run", "", when, record.run_id[:8], "planned but not evaluated")
    severity = getattr(evaluation, "severity", None)
    severity_text = getattr(severity, "value", "ERROR")
    failed_status = "warning" if severity_text == "WARN" else "failed"
    status = "passed" if getattr(evaluation, "passed", False) else failed_status
    description = str(getattr(evaluation, "description", "") or "")
    return CheckResult(asset, key.name, status, severity_text, when, record.run_id[:8], description[:300])


def latest_check_results(instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]) -> list[CheckResult]:
    """One result per check that ever ran (checks never run are left out), worst first."""
    keys = list(check_keys)
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys) if keys else {}
    results = [_result(key, record) for key, record in records.items()]
    return sorted(results, key=lambda r: (STATUS_ORDER.index(r.status), r.asset, r.check))


def dagster_home(settings: Settings) -> Path:
    """Where the Dagster instance of this warehouse lives (as Settings.export() sets it)."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster")


def defined_check_keys() -> list[dg.AssetCheckKey]:
    """Every asset check of the coachwh definitions, whichever job runs it (the build's, the close's)."""
    # Imported here: the definitions import the dashboard asset, which imports this module.
    from dagster_project.definitions import defs

    return list(defs.get_repository_def().asset_graph.asset_check_keys)


def check_results_from_home(settings: Settings) -> list[CheckResult] | None:
    """The latest check results from the instance in DAGSTER_HOME; None when it has never run anything."""
    home = dagster_home(settings)
    if not (home / "dagster.yaml").exists() or not (home / "storage").exists():
        return None
    from dagster_project.dbt_project import ensure_manifest

    ensure_manifest()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return latest_check_results(instance, defined_check_keys())
