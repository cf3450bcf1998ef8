with source as (

    select * from {{ source('raw', 'clients') }}

),

renamed as (

    select
        change_id,
        client_id,
        changed_at,
        op as change_op,
        user_id,
        source as client_source,
        client_type,
        status as client_status,
        is_active,
        deleted_at,
        deleted_by as deleted_by_user_id,
        created_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _line_number as source_line_number,
        _record_hash as record_hash,
        _extra_fields as extra_fields,
        _ingested_at as ingested_at
    from source

)

select * from renamed
