with source as (

    select * from {{ source('governance', 'gdpr_request_status') }}

),

renamed as (

    select
        request_id,
        request_type,
        subject_type,
        subject_id,
        status as request_status,
        outcome as request_outcome,
        cast(attempts as integer) as attempts,
        last_error,
        first_attempt_at,
        last_attempt_at,
        completed_at,
        export_path,
        cast(vault_rows_erased as bigint) as vault_rows_erased
    from source

)

select * from renamed
