{{ config(materialized='table') }}

{#-
  US009. Billing analytics: one row per UTC month (billing_month) from the earliest to the latest
  month with a billing statement, a usage log or a failed attempt. Definitions: see
  _billing_analytics__models.yml.

  Revenue comes from marts.billing_statements (closed months as frozen, open months as of the
  latest build, adjustments in the month they are booked into); usage and provider cost come
  from the permanent usage logs and failed attempts, in the UTC month of their completion or
  failure (today's truth), summed once per user, provider and plan in int_billing_attempt_costs.
  A table, rebuilt by every build (a close shows here from the next build on).
-#}

with billing_statements as (

    select * from {{ ref('billing_statements') }}

),

plan_history as (

    select * from {{ ref('int_user_plan_history') }}

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
        count(distinct user_id) as billed_users,
        sum(subscription_fee_usd) as subscription_fees_usd,
        sum(usage_charges_usd) as usage_charges_usd,
        sum(adjustments_usd) as adjustments_usd,
        sum(total_usd) as revenue_usd,
        max(case when is_closed then 1 else 0 end) = 1 as is_closed
    from billing_statements
    group by billing_month

),

cost_totals as (

    select
        billing_month,
        sum(usage_logs) as transcriptions,
        sum(billable_transcriptions) as billable_transcriptions,
        sum(free_retries) as free_retries,
        sum(failed_attempts) as failed_attempts,
        count(distinct case when usage_logs > 0 then user_id end) as active_users,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(failed_attempt_cost_usd) as failed_attempt_cost_usd,
        sum(free_retry_cost_absorbed_usd) as free_retry_cost_absorbed_usd
    from attempt_costs
    group by billing_month

),

user_first_changes as (

    -- a user's first users change (normally the `insert` that created the account)
    select
        user_id,
        min(valid_from) as first_changed_at
    from plan_history
    group by user_id

),

new_user_totals as (

    select
        {{ coachwh.utc_month('first_changed_at') }} as billing_month,
        count(*) as new_users
    from user_first_changes
    group by {{ coachwh.utc_month('first_changed_at') }}

),

month_ends as (

    -- every covered month and the month before the first, whose end decides the first churn
    select billing_month from months
    union
    select {{ coachwh.add_months('min(billing_month)', -1) }} from months

),

plan_periods as (

    -- the UTC months in which each users change starts and stops being in effect: a change is
    -- in effect at the end of month M when it starts in M or earlier and ends after M
    select
        user_id,
        plan,
        is_user_deleted,
        {{ coachwh.utc_month('valid_from') }} as from_month,
        case when valid_to is not null then {{ coachwh.utc_month('valid_to') }} end as to_month
    from plan_history

),

paid_at_month_end as (

    -- users on a paid plan (not free, account not deleted) at the end of each month
    select distinct
        month_ends.billing_month,
        plan_periods.user_id
    from month_ends
    inner join plan_periods
        on plan_periods.from_month <= month_ends.billing_month
        and (plan_periods.to_month is null or plan_periods.to_month > month_ends.billing_month)
    where plan_periods.plan <> 'free'
      and not plan_periods.is_user_deleted

),

paying_totals as (

    select billing_month, count(*) as paying_users
    from paid_at_month_end
    group by billing_month

),

churn_totals as (

    select
        months.billing_month,
        count(*) as churned_users
    from months
    inner join paid_at_month_end as paid_before
        on paid_before.billing_month = {{ coachwh.add_months('months.billing_month', -1) }}
    left join paid_at_month_end as paid_now
        on paid_now.billing_month = months.billing_month
        and paid_now.user_id = paid_before.user_id
    where paid_now.user_id is null
    group by months.billing_month

),

figures as (

    select
        months.billing_month,
        coalesce(statement_totals.is_closed, false) as is_closed,
        cast(coalesce(statement_totals.billed_users, 0) as bigint) as billed_users,
        cast(coalesce(statement_totals.subscription_fees_usd, 0) as decimal(18, 2)) as subscription_fees_usd,
        cast(coalesce(statement_totals.usage_charges_usd, 0) as decimal(18, 6)) as usage_charges_usd,
        cast(coalesce(statement_totals.adjustments_usd, 0) as decimal(18, 6)) as adjustments_usd,
        cast(coalesce(statement_totals.revenue_usd, 0) as decimal(18, 6)) as revenue_usd,
        cast(coalesce(cost_totals.provider_cost_usd, 0) as decimal(18, 6)) as provider_cost_usd,
        cast(coalesce(cost_totals.failed_attempt_cost_usd, 0) as decimal(18, 6)) as failed_attempt_cost_usd,
        cast(coalesce(cost_totals.free_retry_cost_absorbed_usd, 0) as decimal(18, 6))
            as free_retry_cost_absorbed_usd,
        cast(coalesce(cost_totals.transcriptions, 0) as bigint) as transcriptions,
        cast(coalesce(cost_totals.billable_transcriptions, 0) as bigint) as billable_transcriptions,
        cast(coalesce(cost_totals.free_retries, 0) as bigint) as free_retries,
        cast(coalesce(cost_totals.failed_attempts, 0) as bigint) as failed_attempts,
        cast(coalesce(cost_totals.active_users, 0) as bigint) as active_users,
        cast(coalesce(new_user_totals.new_users, 0) as bigint) as new_users,
        cast(coalesce(paying_totals.paying_users, 0) as bigint) as paying_users,
        cast(coalesce(churn_totals.churned_users, 0) as bigint) as churned_users
    from months
    left join statement_totals
        on months.billing_month = statement_totals.billing_month
    left join cost_totals
        on months.billing_month = cost_totals.billing_month
    left join new_user_totals
        on months.billing_month = new_user_totals.billing_month
    left join paying_totals
        on months.billing_month = paying_totals.billing_month
    left join churn_totals
        on months.billing_month = churn_totals.billing_month

),

final as (

    select
        billing_month,
        is_closed,
        billed_users,
        subscription_fees_usd,
        usage_charges_usd,
        adjustments_usd,
        revenue_usd,
        provider_cost_usd,
        failed_attempt_cost_usd,
        free_retry_cost_absorbed_usd,
        cast(revenue_usd - provider_cost_usd as decimal(18, 6)) as gross_margin_usd,
        cast(
            {{ coachwh.ratio_round('revenue_usd - provider_cost_usd', 'revenue_usd', scale=2, multiplier=100) }}
            as decimal(18, 2)
        ) as gross_margin_pct,
        transcriptions,
        billable_transcriptions,
        free_retries,
        failed_attempts,
        active_users,
        new_users,
        paying_users,
        churned_users,
        cast(
            case when billed_users > 0 then {{ coachwh.money_round_div('revenue_usd', 'billed_users') }} end
            as decimal(18, 6)
        ) as arpu_usd,
        cast(
            case when transcriptions > 0 then {{ coachwh.money_round_div('provider_cost_usd', 'transcriptions') }} end
            as decimal(18, 6)
        ) as cost_per_transcription_usd
    from figures

)

select * from final
