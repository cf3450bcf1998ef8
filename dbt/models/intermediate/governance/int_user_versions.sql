{#-
  Spec §2.2, §4.1. One row per version of a user: each users change starts a version, valid from
  its changed_at until the user's next change (valid_to, exclusive; null = current). The users
  stream has no soft delete: a user is active unless hard-deleted (deleted_at = the delete's
  time). Versioning rules: macro cdc_version_ctes; lifecycle_status (anonymized when the user's PII
  was erased): macro lifecycle_status (dbt/macros/cdc_versions.sql).
-#}

with users as (

    select * from {{ ref('stg_platform__users') }}

),

erased_users as (

    select
        subject_id as user_id,
        erased_at
    from {{ ref('int_erased_subjects') }}
    where subject_type = 'user'

),

{{ coachwh.cdc_version_ctes('users', 'user_id', ['plan', 'user_role', 'created_at'], has_soft_delete=false) }},

final as (

    select
        versions.user_id,
        versions.change_id,
        cast(versions.version_number as integer) as version_number,
        versions.change_op,
        versions.changed_at as valid_from,
        versions.valid_to,
        versions.valid_to is null as is_current,
        versions.plan,
        versions.user_role,
        versions.created_at,
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
