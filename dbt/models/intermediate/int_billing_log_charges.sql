{{ config(meta={'dagster': {'group': 'billing'}}) }}

{#-
  Spec §3.9. One row per usage log: what it contributes to its month's statement today
  (billable seconds and charge), from the permanent usage logs' current truth.
-#}

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

final as (

    select
        usage_log_id,
        user_id,
        usage_month as billing_month,
        transcription_type,
        cast(case when is_billable then duration_seconds else 0 end as decimal(18, 3)) as billable_seconds,
        cast(cost_usd as decimal(18, 6)) as cost_usd
    from usage_logs

)

select * from final
