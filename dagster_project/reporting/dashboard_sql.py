"""The admin dashboard's SQL: aggregates only, read from the marts (and `anonymized` where people are named).

Every query returns aggregates whose size depends on the number of months and days, never on the
number of events: the page carries figures, not rows. Money stays DECIMAL end to end; ratios are
divided in integers (DuckDB divides decimals in floating point), rounded half-up like the dbt
macro `ratio_round`.
"""

from __future__ import annotations


def half_up_pct(numerator: str, denominator: str, operand_scale: int = 6) -> str:
    """SQL for numerator / denominator x 100, half-up to 2 decimals, exact; null when the denominator is 0."""
    factor = 10**operand_scale
    num = f"(cast(cast({numerator} as decimal(38, {operand_scale})) * {factor} as hugeint) * 10000)"
    den = f"cast(cast({denominator} as decimal(38, {operand_scale})) * {factor} as hugeint)"
    return (
        f"case when {den} = 0 then null else "
        f"cast(sign({num}) * sign({den}) * ((2 * abs({num}) + abs({den})) // (2 * abs({den}))) as decimal(38, 0)) "
        f"* 0.01 end"
    )


# The months the dashboard covers: billing_analytics_monthly has one row per month, without gaps,
# from the first to the last month with a statement, a usage log or a failed attempt.
MONTHS = """
with analytics as (

    select * from marts.billing_analytics_monthly

)

select
    strftime(billing_month, '%Y-%m') as month,
    is_closed
from analytics
order by billing_month
"""

# KPIs of every month range [range_from, range_to] (N months give N(N+1)/2 ranges), so that the
# page shows, for any range, exactly what SQL computes for it.
RANGE_KPIS = f"""
with analytics as (

    select * from marts.billing_analytics_monthly

),

usage_logs as (

    select * from marts.usage_logs

),

months as (

    select billing_month as month_start from analytics

),

ranges as (

    select
        range_start.month_start as range_from,
        range_end.month_start as range_to
    from months as range_start
    inner join months as range_end
        on range_start.month_start <= range_end.month_start

),

range_sums as (

    select
        ranges.range_from,
        ranges.range_to,
        sum(analytics.transcriptions) as transcriptions,
        sum(analytics.failed_attempts) as failed_attempts,
        sum(analytics.revenue_usd) as revenue_usd,
        sum(analytics.provider_cost_usd) as provider_cost_usd,
        sum(analytics.free_retry_cost_absorbed_usd) as free_retry_cost_usd
    from ranges
    inner join analytics
        on analytics.billing_month between ranges.range_from and ranges.range_to
    group by ranges.range_from, ranges.range_to

),

user_months as (

    select distinct user_id, usage_month from usage_logs

),

user_month_steps as (

    -- each active user-month with the user's previous active month: a user is counted in a range
    -- once, at its first active month m in it, i.e. where m is in the range and the previous
    -- active month is before the range (no distinct count per range needed)
    select
        usage_month,
        lag(usage_month) over (partition by user_id order by usage_month) as previous_month
    from user_months

),

range_active as (

    select
        ranges.range_from,
        ranges.range_to,
        count(user_month_steps.usage_month) as active_coaches
    from ranges
    left join user_month_steps
        on user_month_steps.usage_month between ranges.range_from and ranges.range_to
        and (user_month_steps.previous_month is null or user_month_steps.previous_month < ranges.range_from)
    group by ranges.range_from, ranges.range_to

),

final as (

    select
        strftime(range_sums.range_from, '%Y-%m') as range_from,
        strftime(range_sums.range_to, '%Y-%m') as range_to,
        cast(range_active.active_coaches as bigint) as active_coaches,
        cast(range_sums.transcriptions as bigint) as transcriptions,
        cast(range_sums.failed_attempts as bigint) as failed_attempts,
        {half_up_pct("range_sums.failed_attempts", "range_sums.transcriptions + range_sums.failed_attempts")}
            as error_rate_pct,
        cast(range_sums.revenue_usd as decimal(18, 6)) as revenue_usd,
        cast(range_sums.provider_cost_usd as decimal(18, 6)) as provider_cost_usd,
        cast(range_sums.revenue_usd - range_sums.provider_cost_usd as decimal(18, 6)) as gross_margin_usd,
        {half_up_pct("range_sums.revenue_usd - range_sums.provider_cost_usd", "range_sums.revenue_usd")}
            as gross_margin_pct,
        cast(range_sums.free_retry_cost_usd as decimal(18, 6)) as free_retry_cost_usd
    from range_sums
    inner join range_active
        on range_sums.range_from = range_active.range_from
        and range_sums.range_to = range_active.range_to

)

select * from final
order by range_from, range_to
"""

# Heavy users of every month range: the top 10% (rounded up) of the range's active coaches by
# billable minutes (ceil per user-month, as billed), ties by pseudonym; pseudonyms only.
# `rank` lets the caller keep the first rows of each range.
RANGE_HEAVY_USERS = """
with user_months as (

    select * from anonymized.usage_analytics

),

users as (

    select * from anonymized.dim_users

),

months as (

    select billing_month as month_start from marts.billing_analytics_monthly

),

ranges as (

    select
        range_start.month_start as range_from,
        range_end.month_start as range_to
    from months as range_start
    inner join months as range_end
        on range_start.month_start <= range_end.month_start

),

range_users as (

    select
        ranges.range_from,
        ranges.range_to,
        user_months.user_id as pseudonym,
        sum(user_months.billable_minutes) as billable_minutes,
        sum(user_months.total_transcriptions) as transcriptions
    from ranges
    inner join user_months
        on user_months.usage_month between ranges.range_from and ranges.range_to
    where user_months.user_id is not null
    group by ranges.range_from, ranges.range_to, user_months.user_id
    having sum(user_months.total_transcriptions) > 0

),

ranked as (

    select
        *,
        row_number() over (
            partition by range_from, range_to order by billable_minutes desc, pseudonym
        ) as rank,
        count(*) over (partition by range_from, range_to) as active_coaches,
        sum(billable_minutes) over (partition by range_from, range_to) as all_minutes
    from range_users

),

heavy as (

    select *
    from ranked
    where rank <= ceil(active_coaches / 10.0)
      and billable_minutes > 0

),

final as (

    select
        strftime(heavy.range_from, '%Y-%m') as range_from,
        strftime(heavy.range_to, '%Y-%m') as range_to,
        cast(heavy.rank as bigint) as rank,
        heavy.pseudonym,
        cast(heavy.billable_minutes as bigint) as billable_minutes,
        cast(heavy.transcriptions as bigint) as transcriptions,
        coalesce(users.plan, 'unknown') as plan,
        cast(heavy.active_coaches as bigint) as active_coaches,
        cast(heavy.all_minutes as bigint) as all_minutes
    from heavy
    left join users
        on heavy.pseudonym = users.user_id

)

select * from final
order by range_from, range_to, rank
"""

# Per UTC day, transcription type and STT provider: the daily and monthly trends.
DAILY_USAGE = """
with usage_logs as (

    select * from marts.usage_logs

)

select
    strftime(cast(transcription_completed_at as date), '%Y-%m-%d') as day,
    transcription_type,
    stt_provider,
    count(*) as transcriptions,
    sum(duration_seconds) as seconds
from usage_logs
group by all
order by all
"""

# Revenue, provider cost and gross margin per month (the money trend chart).
MONTHLY_MONEY = """
with analytics as (

    select * from marts.billing_analytics_monthly

)

select
    strftime(billing_month, '%Y-%m') as month,
    revenue_usd,
    provider_cost_usd,
    gross_margin_usd,
    failed_attempts
from analytics
order by billing_month
"""

# Users per plan at each month's end: the version of each user in effect just before the month
# ends (hard-deleted accounts left out).
PLAN_DISTRIBUTION = """
with history as (

    select * from marts.dim_users_history

),

months as (

    select billing_month as month_start from marts.billing_analytics_monthly

),

month_ends as (

    select
        month_start,
        cast(month_start + interval 1 month as timestamptz) as month_end
    from months

)

select
    strftime(month_ends.month_start, '%Y-%m') as month,
    history.plan,
    count(distinct history.user_id) as users
from month_ends
inner join history
    on history.valid_from < month_ends.month_end
    and (history.valid_to is null or history.valid_to >= month_ends.month_end)
where history.is_active
group by all
order by all
"""

# Plan changes per month (the month a new version took effect), from plan to plan; an upgrade
# moves to a plan with a higher monthly fee.
PLAN_CHANGES = """
with history as (

    select * from marts.dim_users_history

),

plans as (

    select * from reference.plans

),

versions as (

    select
        valid_from,
        plan,
        is_active,
        lag(plan) over (partition by user_id order by valid_from, version_number) as previous_plan
    from history

),

changes as (

    select
        strftime(versions.valid_from, '%Y-%m') as month,
        versions.previous_plan as from_plan,
        versions.plan as to_plan,
        case
            when coalesce(new_plan.monthly_fee_usd, 0) > coalesce(old_plan.monthly_fee_usd, 0) then 'upgrade'
            else 'downgrade'
        end as direction
    from versions
    left join plans as old_plan
        on versions.previous_plan = old_plan.plan
    left join plans as new_plan
        on versions.plan = new_plan.plan
    where versions.is_active
      and versions.previous_plan is not null
      and versions.plan <> versions.previous_plan

)

select month, from_plan, to_plan, direction, count(*) as changes
from changes
group by all
order by all
"""

PLAN_ORDER = """
with plans as (

    select * from reference.plans

)

select plan from plans order by monthly_fee_usd, plan
"""
