{{ config(materialized='view') }}

{#- Spec §4.6. What every retention run did, per policy (a view over governance.retention_runs). -#}

with retention_runs as (

    select * from {{ ref('stg_governance__retention_runs') }}

),

final as (

    select
        cast(retention_run_id as {{ dbt.type_string() }}) as retention_run_id,
        run_at,
        as_of,
        is_dry_run,
        cast(data_category as {{ dbt.type_string() }}) as data_category,
        cast(retention_action as {{ dbt.type_string() }}) as retention_action,
        cast(retention_days as integer) as retention_days,
        cast(grace_days as integer) as grace_days,
        cast(rows_evaluated as bigint) as rows_evaluated,
        cast(rows_acted_on as bigint) as rows_acted_on,
        cast(rows_failed as bigint) as rows_failed,
        cast(run_status as {{ dbt.type_string() }}) as run_status,
        cast(detail as {{ dbt.type_string() }}) as detail
    from retention_runs

)

select * from final
