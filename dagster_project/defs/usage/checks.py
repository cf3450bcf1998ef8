"""Checks on the permanent usage logs that dbt tests cannot express."""


import dagster as dg

from dagster_project.resources import WarehouseResource

USAGE_LOGS_KEY = dg.AssetKey(["marts", "usage_logs"])

TRANSCRIPTION_TYPES = ["original", "retry_failed", "retry_success"]
BILLING_REASONS = ["original_transcription", "failure_retry_no_charge", "retranscription_service"]


@dg.asset_check(asset=USAGE_LOGS_KEY, blocking=True, description=(
    "Reconciliation against raw events, computed independently of the dbt models: every attempt "
    "whose earliest terminal event is `transcription_completed` has exactly one usage log."
))
def every_completed_attempt_has_one_usage_log(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        missing, doubled, completed = conn.execute(
            """
            with terminal as (
                select attempt_id, event_type,
                       row_number() over (partition by attempt_id order by occurred_at, event_id) as rn
                from raw.transcription_events
                where event_type in ('transcription_completed', 'transcription_failed')
            ),
            completed as (select attempt_id from terminal where rn = 1 and event_type = 'transcription_completed'),
            logs as (select attempt_id, count(*) as n from marts.usage_logs group by all)
            select count(*) filter (where logs.n is null), count(*) filter (where logs.n > 1), count(*)
            from completed left join logs using (attempt_id)
            """
        ).fetchall()[0]
    return dg.AssetCheckResult(
        passed=missing == 0 and doubled == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"completed_attempts": completed, "without_usage_log": missing, "with_several_logs": doubled},
    )


@dg.asset_check(asset=USAGE_LOGS_KEY, description=(
    "Flags attempts that received a second, contradicting terminal event (spec §3.1): kept, "
    "outcome unchanged, reported here as a warning."
))
def contradicting_terminal_events(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        attempts = conn.execute(
            """
            select attempt_id from raw.transcription_events
            where event_type in ('transcription_completed', 'transcription_failed')
            group by attempt_id having count(distinct event_type) > 1
            order by attempt_id
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not attempts,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"attempts": len(attempts), "examples": dg.MetadataValue.text(", ".join(a for (a,) in attempts[:10]))},
    )


@dg.asset_check(asset=USAGE_LOGS_KEY, description=(
    "Great Expectations suite on the usage logs computed by the latest build (the newest "
    "watermark): keys, enums, money signs and the free-retry rule."
))
def usage_logs_expectations(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        frame = conn.execute(
            """
            select usage_log_id, attempt_id, transcription_type, billing_reason, is_billable,
                   duration_seconds::double as duration_seconds, cost_usd::double as cost_usd,
                   provider_cost_usd::double as provider_cost_usd, usage_month, plan_at_usage
            from marts.usage_logs
            where source_batch_id = (select max(source_batch_id) from marts.usage_logs)
            """
        ).df()
    from dagster_project.quality import validate_usage_logs  # GX import is slow: only when checked

    outcome = validate_usage_logs(frame)
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_validated": len(frame),
            "expectations": outcome.evaluated,
            "failed_expectations": dg.MetadataValue.json(outcome.failures),
        },
    )
