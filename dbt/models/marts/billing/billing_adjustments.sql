{{ config(materialized='view') }}

{#-
  Spec §3.10. One row per correction of a closed month: adjustments already booked into a month
  that has closed since (final, never recomputed) and those pending in the first open month.
-#}

with closed_adjustments as (

    select * from {{ ref('stg_billing__closed_adjustments') }}

),

pending_adjustments as (

    select * from {{ ref('int_billing_pending_adjustments') }}

),

closed_months as (

    select * from {{ ref('stg_billing__closed_months') }}

),

final_adjustments as (

    select
        adjustment_id, user_id, usage_log_id, original_month, applied_month, reason,
        delta_billable_seconds, delta_usage_charges_usd, created_at, true as is_final
    from closed_adjustments

),

pending as (

    select
        adjustment_id, user_id, usage_log_id, original_month, applied_month, reason,
        delta_billable_seconds, delta_usage_charges_usd,
        cast('{{ coachwh.run_as_of() }}' as {{ coachwh.type_timestamptz() }}) as created_at,
        false as is_final
    from pending_adjustments
    where applied_month not in (select billing_month from closed_months)

),

final as (

    select * from final_adjustments
    union all
    select * from pending

)

select * from final
