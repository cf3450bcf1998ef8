{#-
  Spec §2.2, §4.1. One row per version of a coach profile: each coach_profiles change starts a
  version, valid from its changed_at until the profile's next change (valid_to, exclusive; null =
  current). Changes are ordered by changed_at, then change_id; changes of one profile at the same
  changed_at collapse into the last of them, so that every version lasts a positive time.
  A soft delete is an `update` with is_active false and deleted_at set; a restore is an `update`
  back. A `delete` (hard delete in the platform) keeps the last known attributes, is not active
  and keeps the platform's deleted_at (else the time of the delete).
  A profile's PII belongs to its owning user (the vault keys it by user_id), so the profile is
  anonymized when that user was erased. lifecycle_status, by precedence: `anonymized` (the owning
  user of the version was erased while the version was in effect or before it began, i.e.
  erased_at < valid_to or the version is current; versions are not split at erased_at) >
  `deleted` (hard delete) > `archived` (soft-deleted: not is_active or deleted_at set) > `active`.
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

ordered_changes as (

    select
        coach_profile_id,
        change_id,
        changed_at,
        change_op,
        user_id,
        city,
        country,
        time_zone,
        is_public,
        is_active,
        deleted_at,
        row_number() over (
            partition by coach_profile_id order by changed_at, change_id
        ) as change_sequence,
        row_number() over (
            partition by coach_profile_id, changed_at order by change_id desc
        ) as rank_within_instant,
        count(*) over (partition by coach_profile_id) as change_count,
        min(changed_at) over (partition by coach_profile_id) as first_seen_at,
        max(changed_at) over (partition by coach_profile_id) as last_changed_at
    from coach_profiles

),

live_sources as (

    -- the latest change at or before this one that was not a delete (its attributes are kept)
    select
        *,
        max(case when change_op <> 'delete' then change_sequence end) over (
            partition by coach_profile_id
            order by change_sequence
            rows between unbounded preceding and current row
        ) as live_change_sequence
    from ordered_changes

),

carried as (

    select
        changes.coach_profile_id,
        changes.change_id,
        changes.changed_at,
        changes.change_op,
        changes.rank_within_instant,
        changes.change_count,
        changes.first_seen_at,
        changes.last_changed_at,
        changes.change_op = 'delete' as is_hard_deleted,
        {%- for column in ['user_id', 'city', 'country', 'time_zone', 'is_public'] %}
        case
            when changes.change_op = 'delete' then coalesce(changes.{{ column }}, live.{{ column }})
            else changes.{{ column }}
        end as {{ column }},
        {%- endfor %}
        case
            when changes.change_op = 'delete' then false
            else coalesce(changes.is_active, changes.deleted_at is null)
        end as is_active,
        case
            when changes.change_op = 'delete'
                then coalesce(changes.deleted_at, live.deleted_at, changes.changed_at)
            else changes.deleted_at
        end as deleted_at
    from live_sources as changes
    left join ordered_changes as live
        on changes.coach_profile_id = live.coach_profile_id
        and changes.live_change_sequence = live.change_sequence

),

versions as (

    select
        *,
        row_number() over (partition by coach_profile_id order by changed_at) as version_number,
        lead(changed_at) over (partition by coach_profile_id order by changed_at) as valid_to
    from carried
    where rank_within_instant = 1

),

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
        case
            when erased_users.erased_at is not null
                and (versions.valid_to is null or erased_users.erased_at < versions.valid_to)
                then 'anonymized'
            when versions.is_hard_deleted then 'deleted'
            when not versions.is_active or versions.deleted_at is not null then 'archived'
            else 'active'
        end as lifecycle_status,
        versions.first_seen_at,
        versions.last_changed_at,
        cast(versions.change_count as bigint) as change_count
    from versions
    left join erased_users
        on versions.user_id = erased_users.user_id

)

select * from final
