"""The Great Expectations suite of marts.usage_logs: what it rejects, and its import off the critical path."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from dagster_project.quality import validate_usage_logs


def _logs(**overrides) -> pd.DataFrame:
    row = {"usage_log_id": "l1", "attempt_id": "a1", "transcription_type": "original",
           "billing_reason": "original_transcription", "is_billable": True, "duration_seconds": 3.0,
           "cost_usd": 0.000033, "provider_cost_usd": 0.000033, "usage_month": pd.Timestamp("2026-09-01"),
           "plan_at_usage": "free"}
    row.update(overrides)
    return pd.DataFrame([row])


def test_a_well_formed_usage_log_passes_the_suite():
    assert validate_usage_logs(_logs()).success


def test_a_free_retry_that_costs_money_fails_the_suite():
    outcome = validate_usage_logs(_logs(transcription_type="retry_failed", billing_reason="failure_retry_no_charge",
                                        is_billable=False, cost_usd=0.01))
    assert not outcome.success
    assert outcome.failures


def test_warm_up_imports_great_expectations_in_the_background():
    module = "great_expectations.expectations"
    script = (
        "import sys\n"
        "from dagster_project import quality\n"
        f"assert {module!r} not in sys.modules\n"
        "quality.warm_up()\n"
        "quality._warm_up.join(timeout=120)\n"
        f"assert {module!r} in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)

    assert done.returncode == 0, done.stderr
