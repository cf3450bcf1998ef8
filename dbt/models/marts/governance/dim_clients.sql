{#- Current state of every client ever seen (spec §4.1): the current version of int_client_versions. -#}

with client_versions as (

    select * from {{ ref('int_client_versions') }}

),

final as (

    select
        cast(client_id as {{ dbt.type_string() }}) as client_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(client_source as {{ dbt.type_string() }}) as client_source,
        cast(client_type as {{ dbt.type_string() }}) as client_type,
        cast(client_status as {{ dbt.type_string() }}) as client_status,
        created_at,
        is_active,
        deleted_at,
        cast(deleted_by_user_id as {{ dbt.type_string() }}) as deleted_by_user_id,
        is_hard_deleted,
        hard_deleted_at,
        erased_at,
        cast(lifecycle_status as {{ dbt.type_string() }}) as lifecycle_status,
        first_seen_at,
        last_changed_at,
        cast(change_count as bigint) as change_count,
        cast(change_id as {{ dbt.type_string() }}) as last_change_id
    from client_versions
    where is_current

)

select * from final
