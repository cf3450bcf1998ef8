-- Money invariant: per session, session_billing's total_cost_usd and completed_attempts equal the
-- sum of cost_usd and the count of the session's usage logs, exactly; a session with usage logs
-- has its row. Returns the sessions that disagree. (One join of two aggregates: a correlated
-- subquery per session cost seconds at 10M logs.)

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

session_billing as (

    select * from {{ ref('session_billing') }}

),

log_totals as (

    select
        session_id,
        count(*) as logged_completions,
        sum(cost_usd) as logged_cost_usd
    from usage_logs
    group by session_id

),

final as (

    select
        coalesce(log_totals.session_id, session_billing.session_id) as session_id,
        coalesce(log_totals.logged_completions, 0) as logged_completions,
        session_billing.completed_attempts,
        coalesce(log_totals.logged_cost_usd, 0) as logged_cost_usd,
        session_billing.total_cost_usd
    from log_totals
    full outer join session_billing
        on log_totals.session_id = session_billing.session_id
    where session_billing.session_id is null
        or coalesce(log_totals.logged_completions, 0) <> session_billing.completed_attempts
        or coalesce(log_totals.logged_cost_usd, 0) <> session_billing.total_cost_usd

)

select * from final
