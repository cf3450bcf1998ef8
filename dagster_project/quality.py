"""The Great Expectations suite of `marts.usage_logs`.

GX 1.x only validates reliably through its pandas datasource here, so the check hands it a pandas
frame; the suite runs in an ephemeral context (nothing written to disk) with progress bars off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas costs ~1 s to import: only the check that validates needs it
    import pandas as pd


TRANSCRIPTION_TYPES = ["original", "retry_failed", "retry_success"]
BILLING_REASONS = ["original_transcription", "failure_retry_no_charge", "retranscription_service"]
PLANS = ["free", "student", "pro", "coaching_school"]


@dataclass
class SuiteOutcome:
    success: bool
    evaluated: int
    failures: list[dict] = field(default_factory=list)


_warm_up: threading.Thread | None = None


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations
    import great_expectations.expectations  # noqa: F401


def warm_up() -> None:
    """Start importing Great Expectations in the background.

    Why: the import takes ~5 s of the ~5.5 s the suite's check costs. A build calls this while its
    process only waits for `dbt build` (a subprocess), so the check later finds GX loaded.
    """
    global _warm_up
    if _warm_up is None and "great_expectations.expectations" not in sys.modules:
        _warm_up = threading.Thread(target=_import_gx, name="gx-warm-up", daemon=True)
        _warm_up.start()


def validate_usage_logs(frame: pd.DataFrame) -> SuiteOutcome:
    if _warm_up is not None:
        _warm_up.join()
    _import_gx()  # a no-op once the warm-up has imported it
    import great_expectations as gx
    import great_expectations.expectations as gxe

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("usage_logs")
        .add_dataframe_asset("latest_build")
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(
        name="usage_logs",
        expectations=[
            gxe.ExpectColumnValuesToNotBeNull(column="usage_log_id"),
            gxe.ExpectColumnValuesToBeUnique(column="usage_log_id"),
            gxe.ExpectColumnValuesToBeUnique(column="attempt_id"),
            gxe.ExpectColumnValuesToBeInSet(column="transcription_type", value_set=TRANSCRIPTION_TYPES),
            gxe.ExpectColumnValuesToBeInSet(column="billing_reason", value_set=BILLING_REASONS),
            gxe.ExpectColumnValuesToBeInSet(column="plan_at_usage", value_set=PLANS),
            gxe.ExpectColumnValuesToBeBetween(column="duration_seconds", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="cost_usd", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="provider_cost_usd", min_value=0),
            gxe.ExpectColumnValuesToNotBeNull(column="usage_month"),
            # Free retries cost nothing and are never billable (spec §3.4-3.5).
            gxe.ExpectColumnValuesToBeBetween(
                column="cost_usd", min_value=0, max_value=0,
                row_condition='transcription_type=="retry_failed"', condition_parser="pandas",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="is_billable", value_set=[False],
                row_condition='transcription_type=="retry_failed"', condition_parser="pandas",
            ),
        ],
    )
    suite = context.suites.add(suite)
    result = batch.validate(suite)
    failures = [
        {"expectation": r.expectation_config.type, "column": r.expectation_config.kwargs.get("column"),
         "unexpected": (r.result or {}).get("unexpected_count")}
        for r in result.results
        if not r.success
    ]
    return SuiteOutcome(success=bool(result.success), evaluated=len(result.results), failures=failures)
