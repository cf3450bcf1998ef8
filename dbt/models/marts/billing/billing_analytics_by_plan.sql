{{ config(materialized='table') }}

{#-
  US009. Billing analytics by plan: one row per UTC month of billing_analytics_monthly and plan
  (every plan of the plans seed, plus any other plan seen), zeros when nothing happened.

  Two attributions, each the natural one for its figures (definitions in
  _billing_analytics__models.yml):
    - revenue and billed users by the statement's plan (the plan at the month's end, as billed);
    - usage and provider cost by plan_at_usage (the plan in effect at completion, or at the
      failure for a failed attempt).
  Each money and count column adds up over the plans to the month's figure in
  billing_analytics_monthly. A table, like billing_analytics_monthly.
-#}

with billing_statements as (

    select * from {{ ref('billing_statements') }}

),

plans as (

    select * from {{ ref('plans') }}

),

attempt_costs as (

    select * from {{ ref('int_billing_attempt_costs') }}

),

months as (

    {{ coachwh.billing_analytics_months('billing_statements', 'attempt_costs') }}

),

statement_totals as (

    select
        billing_month,
        plan,
        count(distinct user_id) as billed_users,
        sum(subscription_fee_usd) as subscription_fees_usd,
        sum(usage_charges_usd) as usage_charges_usd,
        sum(adjustments_usd) as adjustments_usd,
        sum(total_usd) as revenue_usd
    from billing_statements
    group by billing_month, plan

),

cost_totals as (

    select
        billing_month,
        plan_at_usage as plan,
        count(distinct case when usage_logs > 0 then user_id end) as active_users,
        sum(usage_logs) as transcriptions,
        sum(billable_transcriptions) as billable_transcriptions,
        sum(free_retries) as free_retries,
        sum(failed_attempts) as failed_attempts,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(free_retry_cost_absorbed_usd) as free_retry_cost_absorbed_usd
    from attempt_costs
    group by billing_month, plan_at_usage

),

all_plans as (

    select plan from plans
    union
    select plan from statement_totals
    union
    select plan from cost_totals

),

month_plans as (

    select months.billing_month, all_plans.plan
    from months
    cross join all_plans

),

final as (

    select
        month_plans.billing_month,
        month_plans.plan,
        cast(coalesce(statement_totals.billed_users, 0) as bigint) as billed_users,
        cast(coalesce(statement_totals.subscription_fees_usd, 0) as decimal(18, 2)) as subscription_fees_usd,
        cast(coalesce(statement_totals.usage_charges_usd, 0) as decimal(18, 6)) as usage_charges_usd,
        cast(coalesce(statement_totals.adjustments_usd, 0) as decimal(18, 6)) as adjustments_usd,
        cast(coalesce(statement_totals.revenue_usd, 0) as decimal(18, 6)) as revenue_usd,
        cast(coalesce(cost_totals.active_users, 0) as bigint) as active_users,
        cast(coalesce(cost_totals.transcriptions, 0) as bigint) as transcriptions,
        cast(coalesce(cost_totals.billable_transcriptions, 0) as bigint) as billable_transcriptions,
        cast(coalesce(cost_totals.free_retries, 0) as bigint) as free_retries,
        cast(coalesce(cost_totals.failed_attempts, 0) as bigint) as failed_attempts,
        cast(coalesce(cost_totals.provider_cost_usd, 0) as decimal(18, 6)) as provider_cost_usd,
        cast(coalesce(cost_totals.free_retry_cost_absorbed_usd, 0) as decimal(18, 6))
            as free_retry_cost_absorbed_usd
    from month_plans
    left join statement_totals
        on month_plans.billing_month = statement_totals.billing_month
        and month_plans.plan = statement_totals.plan
    left join cost_totals
        on month_plans.billing_month = cost_totals.billing_month
        and month_plans.plan = cost_totals.plan

)

select * from final
