{#-
  Versions of an entity from its change-data-capture rows (spec §2.2, §4.1), shared by
  int_user_versions, int_client_versions and int_coach_profile_versions.

  cdc_version_ctes(source_cte, entity_id, attributes, has_soft_delete) emits four CTEs to place in
  a model's with-list after its import CTEs; the last, `versions`, has one row per version:
  entity_id, change_id, changed_at (= valid_from), change_op, version_number, valid_to (exclusive;
  null = current), the attributes, is_active, deleted_at, is_hard_deleted, change_count,
  first_seen_at, last_changed_at.
  - Changes are ordered by changed_at, then change_id; changes of one entity at the same changed_at
    collapse into the last of them, so that every version lasts a positive time.
  - A `delete` (hard delete in the platform) keeps the last known attributes and is not active.
  - With has_soft_delete, is_active and deleted_at come from the rows (a soft delete is an update
    with is_active false and deleted_at set; a hard delete keeps the platform's deleted_at, else the
    time of the delete); without it (users), an entity is active until hard-deleted.
-#}
{% macro cdc_version_ctes(source_cte, entity_id, attributes, has_soft_delete) %}
ordered_changes as (

    select
        {{ entity_id }},
        change_id,
        changed_at,
        change_op,
        {%- for column in attributes %}
        {{ column }},
        {%- endfor %}
        {%- if has_soft_delete %}
        is_active,
        deleted_at,
        {%- endif %}
        row_number() over (
            partition by {{ entity_id }} order by changed_at, change_id
        ) as change_sequence,
        row_number() over (
            partition by {{ entity_id }}, changed_at order by change_id desc
        ) as rank_within_instant,
        count(*) over (partition by {{ entity_id }}) as change_count,
        min(changed_at) over (partition by {{ entity_id }}) as first_seen_at,
        max(changed_at) over (partition by {{ entity_id }}) as last_changed_at
    from {{ source_cte }}

),

live_sources as (

    -- the latest change at or before this one that was not a delete (its attributes are kept)
    select
        *,
        max(case when change_op <> 'delete' then change_sequence end) over (
            partition by {{ entity_id }}
            order by change_sequence
            rows between unbounded preceding and current row
        ) as live_change_sequence
    from ordered_changes

),

carried as (

    select
        changes.{{ entity_id }},
        changes.change_id,
        changes.changed_at,
        changes.change_op,
        changes.rank_within_instant,
        changes.change_count,
        changes.first_seen_at,
        changes.last_changed_at,
        changes.change_op = 'delete' as is_hard_deleted,
        {%- for column in attributes %}
        case
            when changes.change_op = 'delete' then coalesce(changes.{{ column }}, live.{{ column }})
            else changes.{{ column }}
        end as {{ column }},
        {%- endfor %}
        {%- if has_soft_delete %}
        case
            when changes.change_op = 'delete' then false
            else coalesce(changes.is_active, changes.deleted_at is null)
        end as is_active,
        case
            when changes.change_op = 'delete'
                then coalesce(changes.deleted_at, live.deleted_at, changes.changed_at)
            else changes.deleted_at
        end as deleted_at
        {%- else %}
        changes.change_op <> 'delete' as is_active,
        case when changes.change_op = 'delete' then changes.changed_at end as deleted_at
        {%- endif %}
    from live_sources as changes
    left join ordered_changes as live
        on changes.{{ entity_id }} = live.{{ entity_id }}
        and changes.live_change_sequence = live.change_sequence

),

versions as (

    select
        *,
        row_number() over (partition by {{ entity_id }} order by changed_at) as version_number,
        lead(changed_at) over (partition by {{ entity_id }} order by changed_at) as valid_to
    from carried
    where rank_within_instant = 1

)
{% endmacro %}


{#-
  lifecycle_status of a version, by precedence: `anonymized` (PII erased while the version was in
  effect or before it began: erased_at < valid_to, or the version is current; versions are not
  split at erased_at) > `deleted` (hard delete) > `archived` (soft-deleted: not is_active or
  deleted_at set) > `active`.
-#}
{% macro lifecycle_status(erased_at, valid_to, is_hard_deleted, is_active, deleted_at) %}
        case
            when {{ erased_at }} is not null
                and ({{ valid_to }} is null or {{ erased_at }} < {{ valid_to }})
                then 'anonymized'
            when {{ is_hard_deleted }} then 'deleted'
            when not {{ is_active }} or {{ deleted_at }} is not null then 'archived'
            else 'active'
        end
{% endmacro %}
