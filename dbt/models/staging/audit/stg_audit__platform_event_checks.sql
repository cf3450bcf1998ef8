with source as (

    select * from {{ source('audit', 'platform_event_checks') }}

),

renamed as (

    select
        event_id,
        batch_id,
        checksum_valid as is_checksum_valid,
        recomputed_checksum,
        checked_at
    from source

)

select * from renamed
