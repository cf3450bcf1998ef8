with source as (

    select * from {{ source('raw', 'coach_profiles') }}

),

renamed as (

    select
        change_id,
        coach_profile_id,
        changed_at,
        op as change_op,
        user_id,
        city,
        country,
        timezone as time_zone,
        is_public,
        is_active,
        deleted_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _line_number as source_line_number,
        _record_hash as record_hash,
        _extra_fields as extra_fields,
        _ingested_at as ingested_at
    from source

)

select * from renamed
