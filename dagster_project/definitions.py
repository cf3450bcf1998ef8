"""The Dagster definitions of coachwh, assembled from `defs/<domain>/` modules.

Loaded by `workspace.yaml` for `dagster dev` and by the `coachwh` CLI, which materializes the same
jobs in-process: there is one code path.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.config import Settings
from dagster_project.dbt_project import dbt_executable, get_dbt_project
from dagster_project.dbt_resource import CoachwhDbtCliResource
from dagster_project.defs import jobs
from dagster_project.defs.audit import checks as audit_checks
from dagster_project.defs.billing import assets as billing_assets
from dagster_project.defs.billing import checks as billing_checks
from dagster_project.defs.governance import anonymized as governance_anonymized
from dagster_project.defs.governance import checks as governance_checks
from dagster_project.defs.governance import gdpr as governance_gdpr
from dagster_project.defs.governance import retention as governance_retention
from dagster_project.defs.ingestion import assets as ingestion_assets
from dagster_project.defs.ingestion import checks as ingestion_checks
from dagster_project.defs.ingestion.sensors import landing_sensor_for
from dagster_project.defs.reporting import archive as reporting_archive
from dagster_project.defs.reporting import dashboard as reporting_dashboard
from dagster_project.defs.usage import assets as usage_assets
from dagster_project.defs.usage import checks as usage_checks
from dagster_project.resources import WarehouseResource

# dbt's profile reads the absolute DuckDB path from the environment: publish it before any run.
Settings.from_env().export()

defs = dg.Definitions(
    assets=[
        ingestion_assets.ingest_landing_files,
        usage_assets.coachwh_dbt_models,
        billing_assets.monthly_close,
        governance_gdpr.gdpr_erasure,
        governance_gdpr.gdpr_exports,
        governance_anonymized.anonymized_views,
        governance_retention.retention_enforcement,
        reporting_archive.monthly_archive,
        reporting_dashboard.admin_dashboard,
    ],
    asset_checks=[
        *dg.load_asset_checks_from_modules(
            [ingestion_checks, usage_checks, billing_checks, governance_checks, governance_retention, audit_checks]
        ),
    ],
    jobs=[jobs.build_job, jobs.checks_job, billing_assets.close_job, governance_retention.retention_job],
    schedules=[
        jobs.daily_build_schedule,
        jobs.scheduled_checks_schedule,
        billing_assets.close_schedule(Settings.from_env().grace_days),
        governance_retention.daily_retention_schedule,
    ],
    sensors=[landing_sensor_for(jobs.build_job)],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": CoachwhDbtCliResource(project_dir=get_dbt_project(), dbt_executable=dbt_executable()),
    },
    # One writer per DuckDB file: steps of a run execute one after another in one process.
    executor=dg.in_process_executor,
)
