{{ config(materialized='view') }}

{#-
  Spec §3.9-3.10. One row per user and billing month: closed months exactly as frozen by their
  close (never recomputed), open months as of the latest build. A view, so that a close is
  visible the moment its transaction commits.
-#}

with closed_statements as (

    select * from {{ ref('stg_billing__closed_statements') }}

),

closed_months as (

    select * from {{ ref('stg_billing__closed_months') }}

),

open_statements as (

    select * from {{ ref('int_billing_open_statements') }}

),

closed as (

    select
        user_id, billing_month, plan, subscription_fee_usd, included_minutes, billable_seconds,
        billable_minutes, minutes_over_quota, usage_charges_usd, adjustments_usd, total_usd,
        usage_log_count, true as is_closed, closed_at, statement_digest
    from closed_statements

),

still_open as (

    select
        user_id, billing_month, plan, subscription_fee_usd, included_minutes, billable_seconds,
        billable_minutes, minutes_over_quota, usage_charges_usd, adjustments_usd, total_usd,
        usage_log_count, false as is_closed, cast(null as {{ coachwh.type_timestamptz() }}) as closed_at,
        statement_digest
    from open_statements
    where billing_month not in (select billing_month from closed_months)

),

final as (

    select * from closed
    union all
    select * from still_open

)

select * from final
