{{ config(materialized='table') }}

{#-
  US009. Billing analytics by STT provider: one row per UTC month of billing_analytics_monthly
  and stt_provider (every provider of the stt_rates seed, plus any other provider seen), zeros
  when nothing happened. Everything comes from the usage logs and failed attempts of the month
  (UTC month of completion or failure, today's truth): statements are per user, not per
  provider, so usage_charges_usd here is the sum of the logs' cost_usd, not of statements
  (definitions in _billing_analytics__models.yml). A table, like billing_analytics_monthly.
-#}

with billing_statements as (

    select * from {{ ref('billing_statements') }}

),

stt_rates as (

    select * from {{ ref('stt_rates') }}

),

attempt_costs as (

    select * from {{ ref('int_billing_attempt_costs') }}

),

months as (

    {{ coachwh.billing_analytics_months('billing_statements', 'attempt_costs') }}

),

cost_totals as (

    select
        billing_month,
        stt_provider,
        sum(usage_logs) as transcriptions,
        sum(billable_transcriptions) as billable_transcriptions,
        sum(free_retries) as free_retries,
        sum(failed_attempts) as failed_attempts,
        sum(duration_seconds) as total_seconds,
        sum(billable_seconds) as billable_seconds,
        sum(cost_usd) as usage_charges_usd,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(free_retry_cost_absorbed_usd) as free_retry_cost_absorbed_usd
    from attempt_costs
    group by billing_month, stt_provider

),

all_providers as (

    select stt_provider from stt_rates
    union
    select stt_provider from cost_totals

),

month_providers as (

    select months.billing_month, all_providers.stt_provider
    from months
    cross join all_providers

),

figures as (

    select
        month_providers.billing_month,
        month_providers.stt_provider,
        cast(coalesce(cost_totals.transcriptions, 0) as bigint) as transcriptions,
        cast(coalesce(cost_totals.billable_transcriptions, 0) as bigint) as billable_transcriptions,
        cast(coalesce(cost_totals.free_retries, 0) as bigint) as free_retries,
        cast(coalesce(cost_totals.failed_attempts, 0) as bigint) as failed_attempts,
        cast(coalesce(cost_totals.total_seconds, 0) as decimal(18, 3)) as total_seconds,
        cast(coalesce(cost_totals.billable_seconds, 0) as decimal(18, 3)) as billable_seconds,
        cast(coalesce(cost_totals.usage_charges_usd, 0) as decimal(18, 6)) as usage_charges_usd,
        cast(coalesce(cost_totals.provider_cost_usd, 0) as decimal(18, 6)) as provider_cost_usd,
        cast(coalesce(cost_totals.free_retry_cost_absorbed_usd, 0) as decimal(18, 6))
            as free_retry_cost_absorbed_usd
    from month_providers
    left join cost_totals
        on month_providers.billing_month = cost_totals.billing_month
        and month_providers.stt_provider = cost_totals.stt_provider

),

final as (

    select
        billing_month,
        stt_provider,
        transcriptions,
        billable_transcriptions,
        free_retries,
        failed_attempts,
        total_seconds,
        billable_seconds,
        cast(
            {{ coachwh.money_round_div('total_seconds', 60, scale=3, numerator_scale=3) }} as decimal(18, 3)
        ) as total_minutes,
        cast(
            {{ coachwh.money_round_div('billable_seconds', 60, scale=3, numerator_scale=3) }} as decimal(18, 3)
        ) as billable_minutes,
        usage_charges_usd,
        provider_cost_usd,
        free_retry_cost_absorbed_usd,
        cast(usage_charges_usd - provider_cost_usd as decimal(18, 6)) as margin_usd,
        cast(
            {{ coachwh.ratio_round('usage_charges_usd - provider_cost_usd', 'usage_charges_usd', scale=2, multiplier=100) }}
            as decimal(18, 2)
        ) as margin_pct
    from figures

)

select * from final
