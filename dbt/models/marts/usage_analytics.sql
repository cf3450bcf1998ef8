{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'usage_month'],
        full_refresh=false,
        on_schema_change='append_new_columns'
    )
}}

{#-
  One row per user_id and usage_month (UTC) with at least one usage log or failed attempt.
  Usage logs count in the month of their completion, failed attempts in the month of their
  failure. An attempt that has a usage log is never also counted as failed (see usage_logs:
  a log is permanent even if a late, earlier failure event contradicts it).

  Kept through --full-refresh (full_refresh=false), like usage_logs: retention deletes the raw
  events of old sessions (spec §4.6), so a month computed once could not be recomputed from raw;
  its failed-attempt counts would drop. Months touched by new data are still recomputed.

  Incremental: recomputes (delete+insert by user_id, usage_month) the user-months of usage logs
  and failed attempts whose source_batch_id is above max(source_batch_id) here.
-#}

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

classified_attempts as (

    select * from {{ ref('int_attempt_classification') }}

),

failed_attempts as (

    select
        attempt_id,
        session_id,
        user_id,
        client_id,
        {{ coachwh.utc_month('outcome_at') }} as usage_month,
        source_batch_id
    from classified_attempts
    where outcome = 'failed'

),

{% if is_incremental() %}

touched_user_months as (

    select user_id, usage_month
    from usage_logs
    where source_batch_id > {{ coachwh.incremental_watermark('source_batch_id') }}

    union

    select user_id, usage_month
    from failed_attempts
    where source_batch_id > {{ coachwh.incremental_watermark('source_batch_id') }}

),

logs_in_scope as (

    select usage_logs.*
    from usage_logs
    inner join touched_user_months
        on usage_logs.user_id = touched_user_months.user_id
        and usage_logs.usage_month = touched_user_months.usage_month

),

failures_in_scope as (

    select failed_attempts.*
    from failed_attempts
    inner join touched_user_months
        on failed_attempts.user_id = touched_user_months.user_id
        and failed_attempts.usage_month = touched_user_months.usage_month

),

{% else %}

logs_in_scope as (

    select * from usage_logs

),

failures_in_scope as (

    select * from failed_attempts

),

{% endif %}

failures_without_log as (

    select failures_in_scope.*
    from failures_in_scope
    left join usage_logs
        on failures_in_scope.attempt_id = usage_logs.attempt_id
    where usage_logs.attempt_id is null

),

log_totals as (

    select
        user_id,
        usage_month,
        count(*) as total_transcriptions,
        sum(case when transcription_type = 'original' then 1 else 0 end) as original_transcriptions,
        sum(case when transcription_type = 'retry_failed' then 1 else 0 end) as free_retries,
        sum(case when transcription_type = 'retry_success' then 1 else 0 end) as paid_retranscriptions,
        sum(duration_seconds) as total_seconds,
        sum(case when is_billable then duration_seconds else 0 end) as billable_seconds,
        sum(cost_usd) as total_cost_usd,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(case when stt_provider = 'google' then duration_seconds else 0 end) as google_seconds,
        sum(case when stt_provider = 'assemblyai' then duration_seconds else 0 end) as assemblyai_seconds,
        max(source_batch_id) as source_batch_id
    from logs_in_scope
    group by user_id, usage_month

),

failure_totals as (

    select
        user_id,
        usage_month,
        count(*) as failed_attempts,
        max(source_batch_id) as source_batch_id
    from failures_without_log
    group by user_id, usage_month

),

activity as (

    select user_id, usage_month, session_id, client_id from logs_in_scope

    union all

    select user_id, usage_month, session_id, client_id from failures_without_log

),

activity_totals as (

    select
        user_id,
        usage_month,
        count(distinct session_id) as unique_sessions,
        count(distinct client_id) as unique_clients
    from activity
    group by user_id, usage_month

),

final as (

    select
        activity_totals.user_id,
        activity_totals.usage_month,
        cast(coalesce(log_totals.total_transcriptions, 0) as bigint) as total_transcriptions,
        cast(coalesce(log_totals.original_transcriptions, 0) as bigint) as original_transcriptions,
        cast(coalesce(log_totals.free_retries, 0) as bigint) as free_retries,
        cast(coalesce(log_totals.paid_retranscriptions, 0) as bigint) as paid_retranscriptions,
        cast(coalesce(failure_totals.failed_attempts, 0) as bigint) as failed_attempts,
        cast(coalesce(log_totals.total_seconds, 0) as decimal(18, 3)) as total_seconds,
        cast(coalesce(log_totals.billable_seconds, 0) as decimal(18, 3)) as billable_seconds,
        {{ coachwh.ceil_minutes('coalesce(log_totals.billable_seconds, 0)') }} as billable_minutes,
        cast(coalesce(log_totals.total_cost_usd, 0) as decimal(18, 6)) as total_cost_usd,
        cast(coalesce(log_totals.provider_cost_usd, 0) as decimal(18, 6)) as provider_cost_usd,
        cast(coalesce(log_totals.google_seconds, 0) as decimal(18, 3)) as google_seconds,
        cast(coalesce(log_totals.assemblyai_seconds, 0) as decimal(18, 3)) as assemblyai_seconds,
        cast(activity_totals.unique_sessions as bigint) as unique_sessions,
        cast(activity_totals.unique_clients as bigint) as unique_clients,
        cast(
            case
                when failure_totals.source_batch_id is null then log_totals.source_batch_id
                when log_totals.source_batch_id is null then failure_totals.source_batch_id
                when log_totals.source_batch_id > failure_totals.source_batch_id then log_totals.source_batch_id
                else failure_totals.source_batch_id
            end as bigint
        ) as source_batch_id,
        {{ dbt.current_timestamp() }} as computed_at
    from activity_totals
    left join log_totals
        on activity_totals.user_id = log_totals.user_id
        and activity_totals.usage_month = log_totals.usage_month
    left join failure_totals
        on activity_totals.user_id = failure_totals.user_id
        and activity_totals.usage_month = failure_totals.usage_month

)

select * from final
