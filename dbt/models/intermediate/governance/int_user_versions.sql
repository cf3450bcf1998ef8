{#-
  Spec §2.2, §4.1. One row per version of a user: each users change starts a version, valid from
  its changed_at until the user's next change (valid_to, exclusive; null = current). Changes are
  ordered by changed_at, then change_id; changes of one user at the same changed_at collapse into
  the last of them, so that every version lasts a positive time (the others were never in effect).
  A `delete` (hard delete in the platform) keeps the last known attributes and sets deleted_at.
  The users stream has no soft delete: a user is active unless hard-deleted.
  lifecycle_status, by precedence: `anonymized` (the user's PII was erased while the version was in
  effect or before it began, i.e. erased_at < valid_to or the version is current; versions are not
  split at erased_at) > `deleted` > `archived` > `active`.
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

ordered_changes as (

    select
        user_id,
        change_id,
        changed_at,
        change_op,
        plan,
        user_role,
        created_at,
        row_number() over (
            partition by user_id order by changed_at, change_id
        ) as change_sequence,
        row_number() over (
            partition by user_id, changed_at order by change_id desc
        ) as rank_within_instant,
        count(*) over (partition by user_id) as change_count,
        min(changed_at) over (partition by user_id) as first_seen_at,
        max(changed_at) over (partition by user_id) as last_changed_at
    from users

),

live_sources as (

    -- the latest change at or before this one that was not a delete (its attributes are kept)
    select
        *,
        max(case when change_op <> 'delete' then change_sequence end) over (
            partition by user_id
            order by change_sequence
            rows between unbounded preceding and current row
        ) as live_change_sequence
    from ordered_changes

),

carried as (

    select
        changes.user_id,
        changes.change_id,
        changes.changed_at,
        changes.change_op,
        changes.rank_within_instant,
        changes.change_count,
        changes.first_seen_at,
        changes.last_changed_at,
        case
            when changes.change_op = 'delete' then coalesce(changes.plan, live.plan)
            else changes.plan
        end as plan,
        case
            when changes.change_op = 'delete' then coalesce(changes.user_role, live.user_role)
            else changes.user_role
        end as user_role,
        case
            when changes.change_op = 'delete' then coalesce(changes.created_at, live.created_at)
            else changes.created_at
        end as created_at,
        changes.change_op = 'delete' as is_hard_deleted
    from live_sources as changes
    left join ordered_changes as live
        on changes.user_id = live.user_id
        and changes.live_change_sequence = live.change_sequence

),

versions as (

    select
        *,
        row_number() over (partition by user_id order by changed_at) as version_number,
        lead(changed_at) over (partition by user_id order by changed_at) as valid_to
    from carried
    where rank_within_instant = 1

),

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
        not versions.is_hard_deleted as is_active,
        case when versions.is_hard_deleted then versions.changed_at end as deleted_at,
        versions.is_hard_deleted,
        case when versions.is_hard_deleted then versions.changed_at end as hard_deleted_at,
        erased_users.erased_at,
        case
            when erased_users.erased_at is not null
                and (versions.valid_to is null or erased_users.erased_at < versions.valid_to)
                then 'anonymized'
            when versions.is_hard_deleted then 'deleted'
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
