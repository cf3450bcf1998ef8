{#- Every version of every user (spec §4.1), with its plan (plan history) and lifecycle status. -#}

with user_versions as (

    select * from {{ ref('int_user_versions') }}

),

final as (

    select
        cast(change_id as {{ dbt.type_string() }}) as change_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(version_number as integer) as version_number,
        cast(change_op as {{ dbt.type_string() }}) as change_op,
        valid_from,
        valid_to,
        is_current,
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(user_role as {{ dbt.type_string() }}) as user_role,
        created_at,
        is_active,
        deleted_at,
        is_hard_deleted,
        erased_at,
        cast(lifecycle_status as {{ dbt.type_string() }}) as lifecycle_status
    from user_versions

)

select * from final
