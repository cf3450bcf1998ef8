{#- Every version of every client (spec §4.1), with its soft-delete state and lifecycle status. -#}

with client_versions as (

    select * from {{ ref('int_client_versions') }}

),

final as (

    select
        cast(change_id as {{ dbt.type_string() }}) as change_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,
        cast(version_number as integer) as version_number,
        cast(change_op as {{ dbt.type_string() }}) as change_op,
        valid_from,
        valid_to,
        is_current,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(client_source as {{ dbt.type_string() }}) as client_source,
        cast(client_type as {{ dbt.type_string() }}) as client_type,
        cast(client_status as {{ dbt.type_string() }}) as client_status,
        created_at,
        is_active,
        deleted_at,
        cast(deleted_by_user_id as {{ dbt.type_string() }}) as deleted_by_user_id,
        is_hard_deleted,
        erased_at,
        cast(lifecycle_status as {{ dbt.type_string() }}) as lifecycle_status
    from client_versions

)

select * from final
