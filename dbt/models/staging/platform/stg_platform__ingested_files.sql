with source as (

    select * from {{ source('raw', 'ingested_files') }}

),

renamed as (

    select
        batch_id,
        stream,
        file_path as source_file,
        content_sha256,
        file_format,
        size_bytes,
        mtime_ns as file_mtime_ns,
        status as file_status,
        reject_reason,
        rows_read,
        rows_loaded,
        rows_duplicate,
        rows_quarantined,
        extra_field_rows,
        contract_version,
        ingested_at
    from source

)

select * from renamed
