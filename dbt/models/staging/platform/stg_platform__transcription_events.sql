with source as (

    select * from {{ source('raw', 'transcription_events') }}

),

renamed as (

    select
        event_id,
        event_type,
        occurred_at,
        attempt_id,
        session_id,
        user_id,
        client_id,
        stt_provider,
        language,
        cast(duration_seconds as decimal(18, 3)) as duration_seconds,
        cast(provider_cost_usd as decimal(18, 6)) as provider_cost_usd,
        error_code,
        _batch_id as batch_id,
        _source_file as source_file,
        _line_number as source_line_number,
        _record_hash as record_hash,
        _extra_fields as extra_fields,
        _ingested_at as ingested_at
    from source

)

select * from renamed
