{#- Current state of every user ever seen (spec §4.1): the current version of int_user_versions. -#}

with user_versions as (

    select * from {{ ref('int_user_versions') }}

),

final as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(user_role as {{ dbt.type_string() }}) as user_role,
        created_at,
        is_active,
        deleted_at,
        is_hard_deleted,
        hard_deleted_at,
        erased_at,
        cast(lifecycle_status as {{ dbt.type_string() }}) as lifecycle_status,
        first_seen_at,
        last_changed_at,
        cast(change_count as bigint) as change_count,
        cast(change_id as {{ dbt.type_string() }}) as last_change_id
    from user_versions
    where is_current

)

select * from final
