{{ config(materialized='table', meta={'dagster': {'group': 'billing'}}) }}

{#-
  Spec §3.9. One row per user and open billing month (every month after the last closed one, up
  to the month of the run's `as_of` or of the latest usage log) in which the user had a usage log, a paid plan at the
  month's end, or an adjustment booked into the month. Figures are today's truth; a close
  freezes them (billing.closed_statements) and marts.billing_statements then shows the frozen row.
-#}

with log_charges as (

    select * from {{ ref('int_billing_log_charges') }}

),

plan_history as (

    select * from {{ ref('int_user_plan_history') }}

),

plans as (

    select * from {{ ref('plans') }}

),

closed_months as (

    select * from {{ ref('stg_billing__closed_months') }}

),

pending_adjustments as (

    select * from {{ ref('int_billing_pending_adjustments') }}

),

{#- `as_of` is an ISO-8601 UTC timestamp (Dagster normalizes it): its first 7 characters are
    its UTC month. -#}
{%- set as_of_month = coachwh.run_as_of()[:7] ~ '-01' -%}

bounds as (

    select
        coalesce(
            {{ coachwh.add_months('(select max(billing_month) from closed_months)', 1) }},
            (select min(billing_month) from log_charges),
            cast('{{ as_of_month }}' as date)
        ) as first_month,
        -- usage is billed in its month even if the run acts as of an earlier day
        greatest(
            cast('{{ as_of_month }}' as date),
            coalesce((select max(billing_month) from log_charges), cast('{{ as_of_month }}' as date))
        ) as last_month

),

spine as (

    {{ dbt.date_spine('month', "cast('2020-01-01' as date)", "cast('2040-01-01' as date)") }}

),

open_months as (

    select
        cast(spine.date_month as date) as billing_month,
        {{ coachwh.add_months('spine.date_month', 1) }} as next_month,
        {{ coachwh.utc_start_of(coachwh.add_months('spine.date_month', 1)) }} as month_end_at
    from spine
    cross join bounds
    where cast(spine.date_month as date) between bounds.first_month and bounds.last_month

),

plans_at_month_end as (

    -- the plan of the latest users change before the month's end
    select
        open_months.billing_month,
        plan_history.user_id,
        plan_history.plan,
        plan_history.is_user_deleted
    from open_months
    inner join plan_history
        on plan_history.valid_from < open_months.month_end_at
        and (plan_history.valid_to is null or plan_history.valid_to >= open_months.month_end_at)

),

usage_by_month as (

    select
        log_charges.user_id,
        log_charges.billing_month,
        sum(log_charges.billable_seconds) as billable_seconds,
        sum(log_charges.cost_usd) as usage_charges_usd,
        count(*) as usage_log_count,
        {{ coachwh.sorted_listagg('log_charges.usage_log_id', "','") }} as usage_log_ids
    from log_charges
    inner join open_months
        on log_charges.billing_month = open_months.billing_month
    group by log_charges.user_id, log_charges.billing_month

),

adjustments_by_month as (

    select
        user_id,
        applied_month as billing_month,
        sum(delta_usage_charges_usd) as adjustments_usd
    from pending_adjustments
    group by user_id, applied_month

),

statement_keys as (

    select user_id, billing_month from usage_by_month
    union
    select user_id, billing_month from plans_at_month_end
    where plan <> 'free' and not is_user_deleted
    union
    select user_id, billing_month from adjustments_by_month

),

figures as (

    select
        statement_keys.user_id,
        statement_keys.billing_month,
        coalesce(plans_at_month_end.plan, 'free') as plan,
        cast(plans.monthly_fee_usd as decimal(18, 2)) as subscription_fee_usd,
        cast(plans.included_minutes as integer) as included_minutes,
        cast(coalesce(usage_by_month.billable_seconds, 0) as decimal(18, 3)) as billable_seconds,
        cast(coalesce(usage_by_month.usage_charges_usd, 0) as decimal(18, 6)) as usage_charges_usd,
        cast(coalesce(adjustments_by_month.adjustments_usd, 0) as decimal(18, 6)) as adjustments_usd,
        coalesce(usage_by_month.usage_log_count, 0) as usage_log_count,
        coalesce(usage_by_month.usage_log_ids, '') as usage_log_ids
    from statement_keys
    left join plans_at_month_end
        on statement_keys.user_id = plans_at_month_end.user_id
        and statement_keys.billing_month = plans_at_month_end.billing_month
    left join plans
        on coalesce(plans_at_month_end.plan, 'free') = plans.plan
    left join usage_by_month
        on statement_keys.user_id = usage_by_month.user_id
        and statement_keys.billing_month = usage_by_month.billing_month
    left join adjustments_by_month
        on statement_keys.user_id = adjustments_by_month.user_id
        and statement_keys.billing_month = adjustments_by_month.billing_month

),

totals as (

    select
        *,
        cast({{ coachwh.ceil_minutes('billable_seconds') }} as bigint) as billable_minutes
    from figures

),

final as (

    select
        user_id,
        billing_month,
        plan,
        subscription_fee_usd,
        included_minutes,
        billable_seconds,
        billable_minutes,
        cast(
            case
                when included_minutes is null or billable_minutes <= included_minutes then 0
                else billable_minutes - included_minutes
            end as bigint
        ) as minutes_over_quota,
        usage_charges_usd,
        adjustments_usd,
        cast(subscription_fee_usd + usage_charges_usd + adjustments_usd as decimal(18, 6)) as total_usd,
        usage_log_count,
        -- Anyone can re-derive it: SHA-256 of the statement's fields and its usage log ids, in
        -- this order, joined by '|' (docs/billing.md).
        {{ coachwh.sha256_hex(
            "concat_ws('|', user_id, cast(billing_month as " ~ dbt.type_string() ~ "), plan, "
            ~ "cast(subscription_fee_usd as " ~ dbt.type_string() ~ "), "
            ~ "coalesce(cast(included_minutes as " ~ dbt.type_string() ~ "), 'unlimited'), "
            ~ "cast(billable_minutes as " ~ dbt.type_string() ~ "), "
            ~ "cast(usage_charges_usd as " ~ dbt.type_string() ~ "), "
            ~ "cast(adjustments_usd as " ~ dbt.type_string() ~ "), "
            ~ "cast(subscription_fee_usd + usage_charges_usd + adjustments_usd as decimal(18, 6)), "
            ~ "usage_log_ids)"
        ) }} as statement_digest
    from totals

)

select * from final
