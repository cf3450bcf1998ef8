{#-
  Spec §2.2, §4.1. One row per version of a client (coachee): each clients change starts a
  version, valid from its changed_at until the client's next change (valid_to, exclusive; null =
  current). A soft delete is an `update` with is_active false and deleted_at set; a restore is an
  `update` back. Versioning rules: macro cdc_version_ctes; lifecycle_status (anonymized when the
  client's PII was erased): macro lifecycle_status (dbt/macros/cdc_versions.sql).
-#}

with clients as (

    select * from {{ ref('stg_platform__clients') }}

),

erased_clients as (

    select
        subject_id as client_id,
        erased_at
    from {{ ref('int_erased_subjects') }}
    where subject_type = 'client'

),

{{ coachwh.cdc_version_ctes(
    'clients', 'client_id',
    ['user_id', 'client_source', 'client_type', 'client_status', 'deleted_by_user_id', 'created_at'],
    has_soft_delete=true
) }},

final as (

    select
        versions.client_id,
        versions.change_id,
        cast(versions.version_number as integer) as version_number,
        versions.change_op,
        versions.changed_at as valid_from,
        versions.valid_to,
        versions.valid_to is null as is_current,
        versions.user_id,
        versions.client_source,
        versions.client_type,
        versions.client_status,
        versions.created_at,
        versions.is_active,
        versions.deleted_at,
        versions.deleted_by_user_id,
        versions.is_hard_deleted,
        case when versions.is_hard_deleted then versions.changed_at end as hard_deleted_at,
        erased_clients.erased_at,
        {{ coachwh.lifecycle_status('erased_clients.erased_at', 'versions.valid_to', 'versions.is_hard_deleted',
                                    'versions.is_active', 'versions.deleted_at') }} as lifecycle_status,
        versions.first_seen_at,
        versions.last_changed_at,
        cast(versions.change_count as bigint) as change_count
    from versions
    left join erased_clients
        on versions.client_id = erased_clients.client_id

)

select * from final
