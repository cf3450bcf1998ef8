{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_id',
        on_schema_change='append_new_columns'
    )
}}

{#-
  Billing info of a transcription session (US004, spec §3.3-3.5, §3.11): one row per session_id.

  Attempt counts come from int_attempt_classification; everything that is money or a completion
  comes from the permanent usage_logs, so the figures always agree with the logs (and with
  usage_analytics), also for a log kept after a late, earlier contradicting failure changed its
  attempt's outcome. Such an attempt counts as completed, never also as failed. An attempt that
  has a log but no longer any row in int_attempt_classification still counts.

  Incremental (delete+insert by session_id): a run recomputes the sessions with a classified
  attempt or a usage log newer than the highest source_batch_id here (both carry the highest raw
  batch of their session's events), so one new day does not rebuild every session.
-#}

with classified_attempts as (

    select * from {{ ref('int_attempt_classification') }}

),

usage_logs as (

    select * from {{ ref('usage_logs') }}

),

{%- if is_incremental() %}
{%- set watermark = coachwh.incremental_watermark('source_batch_id') %}

touched_sessions as (

    select session_id from classified_attempts where source_batch_id > {{ watermark }}
    union
    select session_id from usage_logs where source_batch_id > {{ watermark }}

),
{%- endif %}

attempts as (

    -- Every attempt, once: from the classification and/or its usage log. A log's ids and times
    -- win (they are the permanent record).
    select
        coalesce(usage_logs.attempt_id, classified_attempts.attempt_id) as attempt_id,
        coalesce(usage_logs.session_id, classified_attempts.session_id) as session_id,
        coalesce(usage_logs.user_id, classified_attempts.user_id) as user_id,
        coalesce(usage_logs.client_id, classified_attempts.client_id) as client_id,
        coalesce(usage_logs.transcription_started_at, classified_attempts.started_at) as started_at,
        usage_logs.transcription_completed_at as completed_at,
        usage_logs.usage_log_id is not null as has_usage_log,
        usage_logs.usage_log_id is null and classified_attempts.outcome = 'failed' as is_failed,
        usage_logs.transcription_type,
        usage_logs.is_billable,
        usage_logs.duration_seconds,
        usage_logs.cost_usd,
        greatest(
            coalesce(usage_logs.source_batch_id, -1), coalesce(classified_attempts.source_batch_id, -1)
        ) as source_batch_id
    from (
        select * from classified_attempts
        {%- if is_incremental() %} where session_id in (select session_id from touched_sessions){% endif %}
    ) as classified_attempts
    full outer join (
        select * from usage_logs
        {%- if is_incremental() %} where session_id in (select session_id from touched_sessions){% endif %}
    ) as usage_logs
        on classified_attempts.attempt_id = usage_logs.attempt_id

),

ordered as (

    -- The session's owner is the user of its first attempt; its client, the first one named.
    select
        *,
        row_number() over (
            partition by session_id
            order by started_at, attempt_id
        ) as attempt_order,
        row_number() over (
            partition by session_id
            order by case when client_id is null then 1 else 0 end, started_at, attempt_id
        ) as client_order
    from attempts

),

session_totals as (

    select
        session_id,
        max(case when attempt_order = 1 then user_id end) as user_id,
        max(case when client_order = 1 then client_id end) as client_id,
        count(*) as total_attempts,
        sum(case when is_failed then 1 else 0 end) as failed_attempts,
        sum(case when has_usage_log then 1 else 0 end) as completed_attempts,
        sum(case when transcription_type = 'retry_failed' then 1 else 0 end) as free_retries,
        sum(case when is_billable then 1 else 0 end) as billable_attempts,
        sum(case when is_billable then duration_seconds else 0 end) as total_billable_seconds,
        sum(case when has_usage_log then cost_usd else 0 end) as total_cost_usd,
        min(started_at) as first_started_at,
        max(completed_at) as last_completed_at,
        max(source_batch_id) as source_batch_id
    from ordered
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        client_id,
        cast(total_attempts as bigint) as total_attempts,
        cast(failed_attempts as bigint) as failed_attempts,
        cast(completed_attempts as bigint) as completed_attempts,
        cast(free_retries as bigint) as free_retries,
        cast(billable_attempts as bigint) as billable_attempts,
        cast(total_billable_seconds as decimal(18, 3)) as total_billable_seconds,
        cast(total_cost_usd as decimal(18, 6)) as total_cost_usd,
        first_started_at,
        last_completed_at,
        cast(source_batch_id as bigint) as source_batch_id
    from session_totals

)

select * from final
