with source as (

    select * from {{ source('governance', 'erasures') }}

),

renamed as (

    select
        subject_type,
        subject_id,
        erased_at,
        request_id,
        erasure_trigger,
        cast(vault_rows_deleted as bigint) as vault_rows_deleted,
        cast(quarantine_texts_deleted as bigint) as quarantine_texts_deleted,
        cast(exports_deleted as bigint) as exports_deleted
    from source

)

select * from renamed
