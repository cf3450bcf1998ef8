"""The Dagster definitions load, and their pieces connect the way the UI will show them."""

from __future__ import annotations

import pytest

from dagster_project.contracts import STREAMS
from dagster_project.dbt_project import ensure_manifest


@pytest.fixture(scope="module")
def defs():
    ensure_manifest()
    from dagster_project.definitions import defs as definitions

    return definitions


def test_the_definitions_load_with_every_asset_check_schedule_and_sensor(defs):
    repo = defs.get_repository_def()
    keys = {"/".join(k.path) for k in repo.asset_graph.get_all_asset_keys()}
    assert {f"raw/{s}" for s in STREAMS} <= keys
    assert {"raw/quarantine", "raw/ingested_files", "vault/pii", "marts/usage_logs", "marts/usage_analytics",
            "reference/stt_rates", "reference/plans"} <= keys
    assert {"marts/billing_statements", "marts/billing_adjustments", "billing/monthly_close"} <= keys
    assert {s.name for s in repo.schedule_defs} == {"daily_build", "daily_checks", "monthly_billing_close",
                                                    "daily_retention"}
    assert {s.name for s in repo.sensor_defs} == {"landing_directory_sensor"}
    assert {"coachwh_build", "coachwh_scheduled_checks", "billing_monthly_close", "retention_daily"} <= {
        j.name for j in repo.get_all_jobs()}
    assert {"governance/gdpr_erasure", "governance/gdpr_exports", "governance/anonymized_views",
            "governance/retention_enforcement", "marts/dim_users", "marts/dim_clients_history",
            "marts/gdpr_requests", "marts/retention_runs"} <= keys


def test_a_build_runs_dbt_once_and_leaves_retention_and_closes_to_their_own_jobs(defs):
    build = defs.resolve_job_def("coachwh_build")
    ops = [node.name for node in build.graph.nodes]
    assert sum(name.startswith("coachwh_dbt_models") for name in ops) == 1
    assert "governance__retention_enforcement" not in ops and "billing__monthly_close" not in ops
    assert "governance__gdpr_erasure" in ops and "governance__anonymized_views" in ops


def test_the_close_schedule_runs_after_the_grace_period(defs):
    schedule = defs.get_repository_def().get_schedule_def("monthly_billing_close")
    assert schedule.cron_schedule == "0 4 4 * *"
    assert schedule.execution_timezone in (None, "UTC")


def test_dbt_sources_are_the_assets_ingestion_materializes(defs):
    """Lineage connects: no dbt source becomes a separate, never-materialized asset."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    external = {"/".join(k.path) for k in graph.get_all_asset_keys() if k not in materializable}
    assert external == set()


def test_dbt_tests_and_python_checks_are_asset_checks(defs):
    graph = defs.get_repository_def().asset_graph
    check_names = {key.name for key in graph.asset_check_keys}
    assert {"every_file_reconciles", "every_completed_attempt_has_one_usage_log", "usage_logs_expectations",
            "no_pii_columns_in_raw"} <= check_names
    assert any(name.startswith("unique_usage_logs_usage_log_id") for name in check_names)
    assert any(name.startswith("source_unique") for name in check_names)
