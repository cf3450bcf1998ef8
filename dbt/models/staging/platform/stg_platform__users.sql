with source as (

    select * from {{ source('raw', 'users') }}

),

renamed as (

    select
        change_id,
        user_id,
        changed_at,
        op as change_op,
        plan,
        role as user_role,
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
