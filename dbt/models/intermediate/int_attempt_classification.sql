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

session_attempts as (
{{ coachwh.rows_touched_since_watermark('transcription_attempts', 'session_id', 'source_batch_id', 'source_batch_id') }}
),

{%- set session_order = "partition by session_id order by started_at, attempt_id" -%}

classified as (

    -- One sort of each session's attempts serves every window below. An attempt without an
    -- outcome yet (started only) is skipped when looking back for the previous outcome.
    select
        *,
        row_number() over ({{ session_order }}) as attempt_sequence,
        max(source_batch_id) over (
            {{ session_order }} rows between unbounded preceding and unbounded following
        ) as session_batch_id,
        case when outcome is not null then
            {{ coachwh.last_non_null_before('outcome', session_order) }}
        end as previous_outcome,
        case when outcome is not null then
            {{ coachwh.last_non_null_before('case when outcome is not null then attempt_id end', session_order) }}
        end as previous_outcome_attempt_id,
        case when outcome = 'completed' then
            {{ coachwh.last_non_null_before("case when outcome = 'completed' then attempt_id end", session_order) }}
        end as parent_attempt_id
    from session_attempts

),

typed as (

    select
        *,
        case
            when outcome = 'completed' then
                case
                    when previous_outcome is null then 'original'
                    when previous_outcome = 'failed' then 'retry_failed'
                    else 'retry_success'
                end
        end as transcription_type
    from classified

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
    from typed

)

select * from final
