with source as (

    select * from {{ source('raw', 'audit_events') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        occurred_at_raw_text,
        event_type,
        severity,
        actor_user_id,
        entity_type,
        entity_id,
        operation,
        description,
        user_agent,
        old_values,
        new_values,
        checksum,
        _batch_id as batch_id,
        _source_file as source_file,
        _line_number as source_line_number,
        _record_hash as record_hash,
        _extra_fields as extra_fields,
        _ingested_at as ingested_at
    from source

)

select * from renamed
