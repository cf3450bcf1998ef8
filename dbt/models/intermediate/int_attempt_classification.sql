{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='attempt_id',
        on_schema_change='append_new_columns'
    )
}}

{#-
  Spec §3.2-3.4. One row per attempt_id, placed in its session's order and classified. A late
  event can reclassify every later attempt of its session, so an incremental run recomputes
  whole sessions: those with an attempt newer than the highest source_batch_id in this table.
-#}

with transcription_attempts as (

    select * from {{ ref('int_transcription_attempts') }}

),

{% if is_incremental() %}

touched_sessions as (

    select distinct session_id
    from transcription_attempts
    where source_batch_id > {{ coachwh.incremental_watermark('source_batch_id') }}

),

session_attempts as (

    select transcription_attempts.*
    from transcription_attempts
    inner join touched_sessions
        on transcription_attempts.session_id = touched_sessions.session_id

),

{% else %}

session_attempts as (

    select * from transcription_attempts

),

{% endif %}

sequenced_attempts as (

    select
        *,
        row_number() over (
            partition by session_id order by started_at, attempt_id
        ) as attempt_sequence,
        max(source_batch_id) over (partition by session_id) as session_batch_id
    from session_attempts

),

attempts_with_outcome as (

    -- an attempt without an outcome yet (started only) is skipped when looking back
    select
        attempt_id,
        lag(outcome) over (
            partition by session_id order by started_at, attempt_id
        ) as previous_outcome,
        lag(attempt_id) over (
            partition by session_id order by started_at, attempt_id
        ) as previous_outcome_attempt_id
    from sequenced_attempts
    where outcome is not null

),

completed_attempts as (

    select
        attempt_id,
        lag(attempt_id) over (
            partition by session_id order by started_at, attempt_id
        ) as parent_attempt_id
    from sequenced_attempts
    where outcome = 'completed'

),

classified as (

    select
        sequenced_attempts.*,
        attempts_with_outcome.previous_outcome,
        attempts_with_outcome.previous_outcome_attempt_id,
        completed_attempts.parent_attempt_id,
        case
            when sequenced_attempts.outcome = 'completed' then
                case
                    when attempts_with_outcome.previous_outcome is null then 'original'
                    when attempts_with_outcome.previous_outcome = 'failed' then 'retry_failed'
                    else 'retry_success'
                end
        end as transcription_type
    from sequenced_attempts
    left join attempts_with_outcome
        on sequenced_attempts.attempt_id = attempts_with_outcome.attempt_id
    left join completed_attempts
        on sequenced_attempts.attempt_id = completed_attempts.attempt_id

),

final as (

    select
        attempt_id,
        session_id,
        user_id,
        client_id,
        stt_provider,
        language,
        cast(attempt_sequence as integer) as attempt_sequence,
        started_at,
        started_event_at,
        outcome,
        outcome_at,
        outcome_event_id,
        duration_seconds,
        provider_cost_usd,
        error_code,
        terminal_event_count,
        has_contradicting_outcome,
        previous_outcome,
        previous_outcome_attempt_id,
        parent_attempt_id,
        transcription_type,
        case transcription_type
            when 'original' then 'original_transcription'
            when 'retry_failed' then 'failure_retry_no_charge'
            when 'retry_success' then 'retranscription_service'
        end as billing_reason,
        coalesce(transcription_type in ('original', 'retry_success'), false) as is_billable,
        session_batch_id as source_batch_id
    from classified

)

select * from final
