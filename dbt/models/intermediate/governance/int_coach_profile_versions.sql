{#-
  Spec §2.2, §4.1. One row per version of a coach profile: each coach_profiles change starts a
  version, valid from its changed_at until the profile's next change (valid_to, exclusive; null =
  current). A soft delete is an `update` with is_active false and deleted_at set; a restore is an
  `update` back. A profile's PII belongs to its owning user (the vault keys it by user_id), so the
  profile is anonymized when that user was erased. Versioning rules: macro cdc_version_ctes;
  lifecycle_status: macro lifecycle_status (dbt/macros/cdc_versions.sql).
-#}

with coach_profiles as (

    select * from {{ ref('stg_platform__coach_profiles') }}

),

erased_users as (

    select
        subject_id as user_id,
        erased_at
    from {{ ref('int_erased_subjects') }}
    where subject_type = 'user'

),

{{ coachwh.cdc_version_ctes(
    'coach_profiles', 'coach_profile_id', ['user_id', 'city', 'country', 'time_zone', 'is_public'],
    has_soft_delete=true
) }},

final as (

    select
        versions.coach_profile_id,
        versions.change_id,
        cast(versions.version_number as integer) as version_number,
        versions.change_op,
        versions.changed_at as valid_from,
        versions.valid_to,
        versions.valid_to is null as is_current,
        versions.user_id,
        versions.city,
        versions.country,
        versions.time_zone,
        versions.is_public,
        versions.is_active,
        versions.deleted_at,
        versions.is_hard_deleted,
        case when versions.is_hard_deleted then versions.changed_at end as hard_deleted_at,
        erased_users.erased_at,
        {{ coachwh.lifecycle_status('erased_users.erased_at', 'versions.valid_to', 'versions.is_hard_deleted',
                                    'versions.is_active', 'versions.deleted_at') }} as lifecycle_status,
        versions.first_seen_at,
        versions.last_changed_at,
        cast(versions.change_count as bigint) as change_count
    from versions
    left join erased_users
        on versions.user_id = erased_users.user_id

)

select * from final
