"""Jobs and schedules that span the domains."""


import dagster as dg

# Every asset, with its checks, in one run: ingestion first, then one `dbt build`.
build_job = dg.define_asset_job(
    "coachwh_build",
    # Monthly closes and archives (defs/billing, defs/reporting) and retention (defs/governance) run
    # in their own scheduled jobs.
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(dg.AssetKey(["billing", "monthly_close"]), dg.AssetKey(["governance", "retention_enforcement"]),
                               dg.AssetKey(["reporting", "monthly_archive"])),
    description="Load new landing files and build every model; runs every asset check.",
    tags={"coachwh/job": "build"},
)

# Checks only, so data quality is verified on a schedule even when nothing was rebuilt.
checks_job = dg.define_asset_job(
    "coachwh_scheduled_checks",
    selection=dg.AssetSelection.all_asset_checks(),
    description="Run every asset check (dbt tests, reconciliation, Great Expectations) without rebuilding.",
    tags={"coachwh/job": "checks"},
)

daily_build_schedule = dg.ScheduleDefinition(
    name="daily_build",
    job=build_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    description="Builds the warehouse every day at 03:00 UTC.",
)

scheduled_checks_schedule = dg.ScheduleDefinition(
    name="daily_checks",
    job=checks_job,
    cron_schedule="0 9 * * *",
    execution_timezone="UTC",
    description="Runs every asset check every day at 09:00 UTC, whether or not anything was rebuilt.",
)
