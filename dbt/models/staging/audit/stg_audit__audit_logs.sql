with source as (

    select * from {{ source('audit', 'audit_logs') }}

),

renamed as (

    select
        sequence_number,
        occurred_at,
        actor,
        operation,
        entity_type,
        entity_id,
        run_id,
        code_version,
        counts,
        before_values,
        after_values,
        reason,
        prev_hash,
        record_hash
    from source

)

select * from renamed
