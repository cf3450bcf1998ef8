{#-
  Spec §3.6. One row per users change: the plan in effect from that change (valid_from) until
  the user's next change (valid_to, exclusive; null = current). A `delete` ends the user's
  history in the platform: its row is flagged is_user_deleted and keeps the last known plan, so
  usage recorded after the deletion is still priced on the plan the user had. Before a user's
  first change the user is on `free` (applied where the history is used).
-#}

with users as (

    select * from {{ ref('stg_platform__users') }}

),

ordered_changes as (

    select
        user_id,
        change_id,
        changed_at,
        change_op,
        plan,
        batch_id,
        row_number() over (
            partition by user_id order by changed_at, batch_id, change_id
        ) as change_sequence
    from users

),

plan_sources as (

    -- the latest change at or before this one that carried a plan (a delete may not)
    select
        *,
        max(case when plan is not null then change_sequence end) over (
            partition by user_id
            order by change_sequence
            rows between unbounded preceding and current row
        ) as plan_change_sequence
    from ordered_changes

),

periods as (

    select
        plan_sources.user_id,
        plan_sources.change_id,
        cast(plan_sources.change_sequence as integer) as change_sequence,
        plan_sources.change_op,
        coalesce(plan_changes.plan, 'free') as plan,
        plan_sources.changed_at as valid_from,
        lead(plan_sources.changed_at) over (
            partition by plan_sources.user_id order by plan_sources.change_sequence
        ) as valid_to,
        plan_sources.change_op = 'delete' as is_user_deleted,
        plan_sources.batch_id
    from plan_sources
    left join ordered_changes as plan_changes
        on plan_sources.user_id = plan_changes.user_id
        and plan_sources.plan_change_sequence = plan_changes.change_sequence

),

final as (

    select
        user_id,
        change_id,
        change_sequence,
        change_op,
        plan,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        is_user_deleted,
        batch_id
    from periods

)

select * from final
