"""Running the Dagster jobs in-process, for the CLI, the benchmark and the tests.

The CLI does not reimplement any asset: it executes the very jobs `dagster dev` shows, against the
persistent Dagster instance in DAGSTER_HOME (default COACHWH_HOME/dagster), so CLI runs appear in
the UI's run history too.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from dagster_project.audit.trail import resolve_actor
from dagster_project.config import Settings
from dagster_project.dbt_project import ensure_manifest

# The CLI prints its own summary; run and step errors stay in the run log (the UI shows them).
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# A run's stages, each made of the steps named here; every other step (checks, governance, the
# dashboard) is in "checks". The CLI's summary and the benchmark both split a run this way.
STAGE_STEPS = {"ingest": "ingest_landing_files", "dbt_build": "coachwh_dbt_models"}
STAGES = (*STAGE_STEPS, "checks")


def stage_of(step_key: str) -> str:
    """The stage a step of a build run belongs to."""
    return next((stage for stage, step in STAGE_STEPS.items() if step == step_key), "checks")


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    severity: str
    description: str

    @property
    def blocking(self) -> bool:
        return self.severity == "ERROR"


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    error: str | None
    seconds: float
    checks: list[CheckOutcome] = field(default_factory=list)
    ingestion: dict[str, Any] = field(default_factory=dict)
    materializations: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    # (start, end) epoch seconds per step: the benchmark sets them beside its CPU samples.
    step_spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    log_path: str = ""

    @property
    def blocking_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed and c.blocking]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed and not c.blocking]

    def stages(self) -> dict[str, float]:
        """Seconds per stage: ingest, the dbt build (models and dbt tests), the other checks."""
        seconds = dict.fromkeys(STAGES, 0.0)
        for step, value in self.step_seconds.items():
            seconds[stage_of(step)] += value
        return {stage: round(value, 2) for stage, value in seconds.items()}

    @property
    def exit_code(self) -> int:
        return 0 if self.success and not self.blocking_failures else 1


def _first_error_line(result: Any) -> str | None:
    for event in result.all_events:
        if event.is_failure and event.event_specific_data is not None:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                lines = [ln for ln in (error.message or "").splitlines() if ln.strip()]
                return f"step {event.step_key} failed: {lines[0] if lines else error.cls_name}"
    return None


def _step_spans(records: Any) -> dict[str, tuple[float, float]]:
    """(start, end) epoch seconds of each step, from the run's event log (first to last event)."""
    from dagster import DagsterEventType

    bounds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    spans: dict[str, list[float]] = {}
    for record in records:
        if not record.step_key or record.dagster_event is None or record.dagster_event.event_type not in bounds:
            continue
        ts = record.timestamp
        span = spans.setdefault(record.step_key, [ts, ts])
        span[0] = min(span[0], ts)
        span[1] = max(span[1], ts)
    return {key: (start, end) for key, (start, end) in spans.items()}


def run_job(
    job_name: str,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
) -> RunOutcome:
    """Execute one job of the definitions in this process and summarize it."""
    Settings.from_env().export()
    ensure_manifest()
    from dagster import DagsterInstance

    from dagster_project.definitions import defs

    # Libraries log at INFO through the root logger (dbt's in-process parse configures it); the
    # CLI prints its own summary instead, and the run's full log stays in the Dagster instance.
    for name in ("dagster", "dagster.builtin", "great_expectations", "dbt"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    job = defs.resolve_job_def(job_name)
    config = {**QUIET_LOGGING, **(run_config or {})}
    log_dir = Settings.from_env().home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{job_name}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    for old in sorted(log_dir.glob(f"{job_name}-*.log"))[:-50]:
        old.unlink()  # keep the last 50 runs' logs
    started = time.monotonic()
    # dagster-dbt echoes every dbt log line to stdout; the CLI keeps them in a log file instead
    # and prints a summary.
    with DagsterInstance.get() as instance, log_path.open("w", encoding="utf-8") as log_file, \
            contextlib.redirect_stdout(log_file):
        result = job.execute_in_process(
            instance=instance,
            run_config=config,
            tags={"coachwh/actor": resolve_actor(), "coachwh/trigger": "cli", **(tags or {})},
            raise_on_error=False,
            partition_key=partition_key,
        )
        step_spans = _step_spans(instance.all_logs(result.run_id))
    seconds = time.monotonic() - started
    checks = [
        CheckOutcome(
            asset="/".join(ev.asset_key.path),
            name=ev.check_name,
            passed=ev.passed,
            severity=ev.severity.value,
            description=str(ev.description or ""),
        )
        for ev in result.get_asset_check_evaluations()
    ]
    materializations: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        materializations["/".join(materialization.asset_key.path)] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    ingestion = materializations.get("raw/ingested_files", {})
    return RunOutcome(
        run_id=result.run_id,
        success=result.success,
        error=None if result.success else _first_error_line(result),
        seconds=seconds,
        checks=checks,
        ingestion=ingestion,
        materializations=materializations,
        step_seconds={key: round(end - start, 3) for key, (start, end) in step_spans.items()},
        step_spans=step_spans,
        log_path=str(log_path),
    )


def run_build(as_of: str = "", full_refresh: bool = False, reason: str | None = None) -> RunOutcome:
    tags = {"coachwh/as_of": as_of or "now"}
    if full_refresh:
        tags["coachwh/full_refresh"] = "true"
    if reason:
        tags["coachwh/reason"] = reason[:200]
    run_config = {"ops": {"coachwh_dbt_models": {"config": {"as_of": as_of, "full_refresh": full_refresh}}}}
    return run_job("coachwh_build", run_config=run_config, tags=tags)


def run_checks() -> RunOutcome:
    return run_job("coachwh_scheduled_checks")


def run_close(month: str, as_of: str = "") -> RunOutcome:
    """Close billing month `month` (YYYY-MM) as of `as_of`, through the partitioned close job."""
    return run_job("billing_monthly_close", partition_key=f"{month}-01", tags={"coachwh/as_of": as_of or ""})


def close_due_months(as_of: str) -> tuple[RunOutcome | None, list[str]]:
    """After a build: close every month due as of `as_of` (the latest one closes the earlier ones).

    Returns the close run (None when nothing is due) and the due months that are not partitions
    yet (an --as-of later than the current month), which are left open.
    """
    from datetime import datetime

    from dagster_project.asof import resolve_as_of
    from dagster_project.billing.close import due_months
    from dagster_project.defs.billing.assets import BILLING_MONTHS
    from dagster_project.warehouse import connection

    settings = Settings.from_env()
    moment = datetime.fromisoformat(resolve_as_of(as_of))
    with connection(settings, read_only=True) as conn:
        due = [f"{m:%Y-%m}" for m in due_months(conn, moment, settings.grace_days)]
    partitions = set(BILLING_MONTHS.get_partition_keys())
    closable = [m for m in due if f"{m}-01" in partitions]
    skipped = [m for m in due if m not in closable]
    if not closable:
        return None, skipped
    return run_close(closable[-1], as_of=as_of), skipped
