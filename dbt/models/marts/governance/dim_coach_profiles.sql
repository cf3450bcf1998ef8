{#- Current state of every coach profile ever seen (spec §4.1): the current version of int_coach_profile_versions. -#}

with coach_profile_versions as (

    select * from {{ ref('int_coach_profile_versions') }}

),

final as (

    select
        cast(coach_profile_id as {{ dbt.type_string() }}) as coach_profile_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone,
        is_public,
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
    from coach_profile_versions
    where is_current

)

select * from final
