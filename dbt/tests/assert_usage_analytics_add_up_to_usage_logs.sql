-- Money invariant: per user and UTC month, usage_analytics counts, seconds and dollars equal the
-- sums of usage_logs exactly (the incremental user-month bookkeeping lost or double-counted
-- nothing). Returns the user-months that disagree.

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

usage_analytics as (

    select * from {{ ref('usage_analytics') }}

),

log_totals as (

    select
        user_id,
        usage_month,
        count(*) as total_transcriptions,
        sum(duration_seconds) as total_seconds,
        sum(cost_usd) as total_cost_usd,
        sum(provider_cost_usd) as provider_cost_usd
    from usage_logs
    group by user_id, usage_month

),

compared as (

    select
        coalesce(log_totals.user_id, usage_analytics.user_id) as user_id,
        coalesce(log_totals.usage_month, usage_analytics.usage_month) as usage_month,
        coalesce(log_totals.total_transcriptions, 0) as logged_transcriptions,
        coalesce(usage_analytics.total_transcriptions, 0) as analytics_transcriptions,
        coalesce(log_totals.total_seconds, 0) as logged_seconds,
        coalesce(usage_analytics.total_seconds, 0) as analytics_seconds,
        coalesce(log_totals.total_cost_usd, 0) as logged_cost_usd,
        coalesce(usage_analytics.total_cost_usd, 0) as analytics_cost_usd,
        coalesce(log_totals.provider_cost_usd, 0) as logged_provider_cost_usd,
        coalesce(usage_analytics.provider_cost_usd, 0) as analytics_provider_cost_usd
    from log_totals
    full outer join usage_analytics
        on log_totals.user_id = usage_analytics.user_id
        and log_totals.usage_month = usage_analytics.usage_month

),

final as (

    select *
    from compared
    where logged_transcriptions <> analytics_transcriptions
        or logged_seconds <> analytics_seconds
        or logged_cost_usd <> analytics_cost_usd
        or logged_provider_cost_usd <> analytics_provider_cost_usd

)

select * from final
