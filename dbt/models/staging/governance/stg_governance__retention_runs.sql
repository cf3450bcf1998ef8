with source as (

    select * from {{ source('governance', 'retention_runs') }}

),

renamed as (

    select
        retention_run_id,
        run_at,
        as_of,
        is_dry_run,
        data_category,
        action as retention_action,
        cast(retention_days as integer) as retention_days,
        cast(grace_days as integer) as grace_days,
        cast(evaluated as bigint) as rows_evaluated,
        cast(acted_on as bigint) as rows_acted_on,
        cast(failed as bigint) as rows_failed,
        status as run_status,
        detail
    from source

)

select * from renamed
