{#- Every version of every coach profile (spec §4.1), with its soft-delete state and lifecycle status. -#}

with coach_profile_versions as (

    select * from {{ ref('int_coach_profile_versions') }}

),

final as (

    select
        cast(change_id as {{ dbt.type_string() }}) as change_id,
        cast(coach_profile_id as {{ dbt.type_string() }}) as coach_profile_id,
        cast(version_number as integer) as version_number,
        cast(change_op as {{ dbt.type_string() }}) as change_op,
        valid_from,
        valid_to,
        is_current,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone,
        is_public,
        is_active,
        deleted_at,
        is_hard_deleted,
        erased_at,
        cast(lifecycle_status as {{ dbt.type_string() }}) as lifecycle_status
    from coach_profile_versions

)

select * from final
