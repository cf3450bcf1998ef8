{#- raw_text is left out on purpose: a rejected line may hold plaintext PII (spec §4.2). -#}
with source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        quarantine_id,
        batch_id,
        stream,
        file as source_file,
        line_number as source_line_number,
        reason,
        quarantined_at
    from source

)

select * from renamed
