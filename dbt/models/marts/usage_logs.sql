{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='usage_log_id',
        full_refresh=false,
        on_schema_change='append_new_columns'
    )
}}

{#-
  Spec §3.3-3.7 and §3.11. One row per completed transcription attempt; permanent.

  full_refresh=false: `dbt build --full-refresh` runs this model incrementally like any other run,
  so a log is never dropped, whatever happens to raw data, users or clients later.

  Watermarks, one per raw stream the logs depend on (`_batch_id` is global and increasing):
    - source_batch_id: the highest `_batch_id` among the transcription events of the log's
      session when the row was computed;
    - users_batch_id: the highest `_batch_id` among the users changes of the log's user then.
  An incremental run recomputes (delete+insert by usage_log_id) every completed attempt of
    - sessions with events newer than max(source_batch_id) here (a late event can reclassify any
      attempt of its session), and
    - sessions of users with a users change newer than max(users_batch_id) here (plan_at_usage
      may change).
  Keeping the two apart means a run with nothing new recomputes nothing, and a stale upstream
  (e.g. usage_logs materialized alone) can never push one stream's watermark past the other's.
  A log whose attempt is no longer `completed` (a late, earlier contradicting terminal event) is
  not produced again and so is kept as it was.
-#}

with classified_attempts as (

    select * from {{ ref('int_attempt_classification') }}

),

plan_history as (

    select * from {{ ref('int_user_plan_history') }}

),

stt_rates as (

    select * from {{ ref('stt_rates') }}

),

user_batches as (

    select
        user_id,
        max(batch_id) as users_batch_id
    from plan_history
    group by user_id

),

{% if is_incremental() %}

changed_users as (

    select user_id
    from user_batches
    where users_batch_id > {{ coachwh.incremental_watermark('users_batch_id') }}

),

touched_sessions as (

    select session_id
    from classified_attempts
    where source_batch_id > {{ coachwh.incremental_watermark('source_batch_id') }}

    union

    select classified_attempts.session_id
    from classified_attempts
    inner join changed_users
        on classified_attempts.user_id = changed_users.user_id

),

completed_attempts as (

    select classified_attempts.*
    from classified_attempts
    inner join touched_sessions
        on classified_attempts.session_id = touched_sessions.session_id
    where classified_attempts.outcome = 'completed'

),

{% else %}

completed_attempts as (

    select * from classified_attempts where outcome = 'completed'

),

{% endif %}

completion_days as (

    select
        *,
        {{ coachwh.utc_date('outcome_at') }} as completed_on
    from completed_attempts

),

rated as (

    select
        completion_days.*,
        stt_rates.rate_per_minute_usd
    from completion_days
    left join stt_rates
        on completion_days.stt_provider = stt_rates.stt_provider
        and stt_rates.effective_from <= completion_days.completed_on
        and (stt_rates.effective_to is null or completion_days.completed_on < stt_rates.effective_to)

),

with_plan as (

    select
        rated.*,
        coalesce(plan_history.plan, 'free') as plan_at_usage,
        user_batches.users_batch_id
    from rated
    left join plan_history
        on rated.user_id = plan_history.user_id
        and plan_history.valid_from <= rated.outcome_at
        and (plan_history.valid_to is null or rated.outcome_at < plan_history.valid_to)
    left join user_batches
        on rated.user_id = user_batches.user_id

),

priced as (

    select
        *,
        {{ coachwh.usage_cost_usd('duration_seconds', 'rate_per_minute_usd') }} as list_cost_usd
    from with_plan

),

final as (

    select
        {{ dbt.hash('attempt_id') }} as usage_log_id,
        attempt_id,
        session_id,
        user_id,
        client_id,
        stt_provider,
        language,
        transcription_type,
        is_billable,
        billing_reason,
        case
            when parent_attempt_id is not null then {{ dbt.hash('parent_attempt_id') }}
        end as parent_usage_log_id,
        attempt_sequence,
        cast(duration_seconds as decimal(18, 3)) as duration_seconds,
        cast(rate_per_minute_usd as decimal(12, 6)) as rate_per_minute_usd,
        cast(case when is_billable then list_cost_usd else 0 end as decimal(18, 6)) as cost_usd,
        cast(coalesce(provider_cost_usd, list_cost_usd) as decimal(18, 6)) as provider_cost_usd,
        provider_cost_usd is null as is_provider_cost_estimated,
        plan_at_usage,
        started_at as transcription_started_at,
        outcome_at as transcription_completed_at,
        {{ coachwh.utc_month('outcome_at') }} as usage_month,
        has_contradicting_outcome,
        cast(source_batch_id as bigint) as source_batch_id,
        cast(users_batch_id as bigint) as users_batch_id,
        {{ dbt.current_timestamp() }} as computed_at
    from priced

)

select * from final
