with source as (

    select * from {{ source('raw', 'gdpr_requests') }}

),

renamed as (

    select
        request_id,
        requested_at,
        request_type,
        subject_type,
        subject_id,
        requested_by,
        _batch_id as batch_id,
        _source_file as source_file,
        _line_number as source_line_number,
        _record_hash as record_hash,
        _extra_fields as extra_fields,
        _ingested_at as ingested_at
    from source

)

select * from renamed
