{{ config(meta={'dagster': {'group': 'billing'}}) }}

{#-
  Spec §3.10. One row per usage log of a closed month whose current charge differs from what has
  been billed for it so far: the charge frozen in its month's closed statement (zero for a log
  that arrived after the close) plus every adjustment already booked into a closed month. The
  difference is booked into the first open month: the month after the last closed one. Pending
  adjustments are recomputed on every run until their applied month closes, when the close
  freezes them into billing.closed_adjustments.
-#}

with log_charges as (

    select * from {{ ref('int_billing_log_charges') }}

),

closed_months as (

    select * from {{ ref('stg_billing__closed_months') }}

),

closed_log_charges as (

    select * from {{ ref('stg_billing__closed_log_charges') }}

),

closed_adjustments as (

    select * from {{ ref('stg_billing__closed_adjustments') }}

),

first_open_month as (

    select {{ coachwh.add_months('max(billing_month)', 1) }} as applied_month
    from closed_months
    having count(*) > 0

),

frozen_adjustments as (

    select
        usage_log_id,
        sum(delta_billable_seconds) as billable_seconds,
        sum(delta_usage_charges_usd) as usage_charges_usd
    from closed_adjustments
    group by usage_log_id

),

logs_of_closed_months as (

    select
        log_charges.*,
        (closed_log_charges.usage_log_id is not null or frozen_adjustments.usage_log_id is not null)
            as was_billed_before,
        coalesce(closed_log_charges.billable_seconds, 0)
            + coalesce(frozen_adjustments.billable_seconds, 0) as billed_seconds,
        coalesce(closed_log_charges.cost_usd, 0)
            + coalesce(frozen_adjustments.usage_charges_usd, 0) as billed_usd
    from log_charges
    inner join closed_months
        on log_charges.billing_month = closed_months.billing_month
    left join closed_log_charges
        on log_charges.usage_log_id = closed_log_charges.usage_log_id
        and log_charges.billing_month = closed_log_charges.billing_month
    left join frozen_adjustments
        on log_charges.usage_log_id = frozen_adjustments.usage_log_id

),

final as (

    select
        {{ dbt.hash("concat(logs_of_closed_months.usage_log_id, '|', cast(first_open_month.applied_month as " ~ dbt.type_string() ~ "))") }}
            as adjustment_id,
        logs_of_closed_months.user_id,
        logs_of_closed_months.usage_log_id,
        logs_of_closed_months.billing_month as original_month,
        first_open_month.applied_month,
        case when logs_of_closed_months.was_billed_before then 'reclassified' else 'late_usage' end as reason,
        cast(logs_of_closed_months.billable_seconds - logs_of_closed_months.billed_seconds as decimal(18, 3))
            as delta_billable_seconds,
        cast(logs_of_closed_months.cost_usd - logs_of_closed_months.billed_usd as decimal(18, 6))
            as delta_usage_charges_usd
    from logs_of_closed_months
    cross join first_open_month
    where logs_of_closed_months.billable_seconds <> logs_of_closed_months.billed_seconds
       or logs_of_closed_months.cost_usd <> logs_of_closed_months.billed_usd

)

select * from final
