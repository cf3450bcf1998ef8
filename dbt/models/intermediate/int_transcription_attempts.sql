{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='attempt_id',
        on_schema_change='append_new_columns'
    )
}}

{#-
  Spec §3.1. One row per attempt_id. An incremental run recomputes only the attempts that
  received events in batches newer than the highest source_batch_id already in this table.
-#}

with transcription_events as (

    select * from {{ ref('stg_platform__transcription_events') }}

),

attempt_events as (
{{ coachwh.rows_touched_since_watermark('transcription_events', 'attempt_id', 'batch_id', 'source_batch_id') }}
),

started_events as (

    select
        *,
        row_number() over (partition by attempt_id order by occurred_at, event_id) as started_rank
    from attempt_events
    where event_type = 'transcription_started'

),

first_started_events as (

    select * from started_events where started_rank = 1

),

terminal_events as (

    select
        *,
        row_number() over (partition by attempt_id order by occurred_at, event_id) as terminal_rank
    from attempt_events
    where event_type in ('transcription_completed', 'transcription_failed')

),

outcome_events as (

    -- the earliest terminal event is the outcome; later ones never change it
    select * from terminal_events where terminal_rank = 1

),

attempt_summaries as (

    select
        attempt_id,
        count(*) as event_count,
        sum(case when event_type = 'transcription_completed' then 1 else 0 end) as completed_event_count,
        sum(case when event_type = 'transcription_failed' then 1 else 0 end) as failed_event_count,
        max(batch_id) as source_batch_id
    from attempt_events
    group by attempt_id

),

final as (

    select
        attempt_summaries.attempt_id,
        -- descriptive fields come from the outcome event, else from the first start event
        coalesce(outcome_events.session_id, first_started_events.session_id) as session_id,
        coalesce(outcome_events.user_id, first_started_events.user_id) as user_id,
        coalesce(outcome_events.client_id, first_started_events.client_id) as client_id,
        coalesce(outcome_events.stt_provider, first_started_events.stt_provider) as stt_provider,
        coalesce(outcome_events.language, first_started_events.language) as language,
        -- the start time that orders the session's attempts
        coalesce(first_started_events.occurred_at, outcome_events.occurred_at) as started_at,
        first_started_events.occurred_at as started_event_at,
        case outcome_events.event_type
            when 'transcription_completed' then 'completed'
            when 'transcription_failed' then 'failed'
        end as outcome,
        outcome_events.occurred_at as outcome_at,
        outcome_events.event_id as outcome_event_id,
        outcome_events.duration_seconds,
        outcome_events.provider_cost_usd,
        outcome_events.error_code,
        attempt_summaries.event_count,
        attempt_summaries.completed_event_count + attempt_summaries.failed_event_count as terminal_event_count,
        (
            attempt_summaries.completed_event_count > 0
            and attempt_summaries.failed_event_count > 0
        ) as has_contradicting_outcome,
        attempt_summaries.source_batch_id
    from attempt_summaries
    left join first_started_events
        on attempt_summaries.attempt_id = first_started_events.attempt_id
    left join outcome_events
        on attempt_summaries.attempt_id = outcome_events.attempt_id

)

select * from final
