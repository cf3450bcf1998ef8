{{ config(materialized='table', meta={'dagster': {'group': 'billing'}}) }}

{#-
  US009. What every usage log and failed attempt cost, summed once for the three billing
  analytics marts: one row per UTC month (billing_month), user, STT provider and plan at usage.

  Why: each mart used to sum the ~10M attempts itself (three scans of usage_logs and the
  classified attempts, ~3 s each at 10M events); they now sum these few hundred thousand rows.
  A user is active in a group when it has a usage log there (usage_logs > 0).
-#}

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

classified_attempts as (

    select * from {{ ref('int_attempt_classification') }}

),

plan_history as (

    select * from {{ ref('int_user_plan_history') }}

),

attempt_costs as (

    {{ coachwh.billing_analytics_attempt_costs('usage_logs', 'classified_attempts', 'plan_history') }}

),

final as (

    select
        billing_month,
        user_id,
        stt_provider,
        plan_at_usage,
        cast(sum(case when is_usage_log then 1 else 0 end) as bigint) as usage_logs,
        cast(sum(case when is_billable then 1 else 0 end) as bigint) as billable_transcriptions,
        cast(sum(case when transcription_type = 'retry_failed' then 1 else 0 end) as bigint) as free_retries,
        cast(sum(case when is_usage_log then 0 else 1 end) as bigint) as failed_attempts,
        cast(sum(duration_seconds) as decimal(18, 3)) as duration_seconds,
        cast(sum(billable_seconds) as decimal(18, 3)) as billable_seconds,
        cast(sum(cost_usd) as decimal(18, 6)) as cost_usd,
        cast(sum(provider_cost_usd) as decimal(18, 6)) as provider_cost_usd,
        cast(sum(case when is_usage_log then 0 else provider_cost_usd end) as decimal(18, 6))
            as failed_attempt_cost_usd,
        cast(sum(case when transcription_type = 'retry_failed' then provider_cost_usd else 0 end) as decimal(18, 6))
            as free_retry_cost_absorbed_usd
    from attempt_costs
    group by billing_month, user_id, stt_provider, plan_at_usage

)

select * from final
