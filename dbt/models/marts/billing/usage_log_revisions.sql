{{
    config(
        materialized='table'
    )
}}

{#-
  Restatements of usage logs (spec §3.11): one row per change of a usage log after its first
  version. marts.usage_logs shows the current truth; this shows how it got there.

  Derived from the snapshot usage_logs_snapshot (strategy `check` on the billing columns, versions
  timestamped with the log's computed_at): every version that has a previous version of the same
  log is a revision, old_* from the previous version and new_* from this one. The snapshot is the
  permanent store (never dropped, also not on --full-refresh); this table is rebuilt from it on
  every run, so it keeps every revision and revision_id is stable.

  Only logs that have more than one version (a closed version, dbt_valid_to not null) are read.
-#}

with snapshot_versions as (

    select * from {{ ref('usage_logs_snapshot') }}

),

restated_logs as (

    select distinct usage_log_id
    from snapshot_versions
    where dbt_valid_to is not null

),

versions as (

    select
        snapshot_versions.*,
        row_number() over (
            partition by snapshot_versions.usage_log_id
            order by snapshot_versions.dbt_valid_from
        ) as version_number
    from snapshot_versions
    inner join restated_logs
        on snapshot_versions.usage_log_id = restated_logs.usage_log_id

),

paired as (

    select
        -- the new version's id in the snapshot: md5 of usage_log_id and dbt_valid_from, computed
        -- once when the version was recorded (stable whatever the session time zone is later)
        new_version.dbt_scd_id as revision_id,
        new_version.usage_log_id,
        new_version.attempt_id,
        new_version.user_id,
        new_version.usage_month,
        new_version.version_number,
        new_version.dbt_valid_from as revised_at,
        new_version.source_batch_id,
        new_version.users_batch_id,
        old_version.transcription_type as old_transcription_type,
        new_version.transcription_type as new_transcription_type,
        old_version.is_billable as old_is_billable,
        new_version.is_billable as new_is_billable,
        old_version.billing_reason as old_billing_reason,
        new_version.billing_reason as new_billing_reason,
        old_version.cost_usd as old_cost_usd,
        new_version.cost_usd as new_cost_usd,
        old_version.parent_usage_log_id as old_parent_usage_log_id,
        new_version.parent_usage_log_id as new_parent_usage_log_id,
        old_version.plan_at_usage as old_plan_at_usage,
        new_version.plan_at_usage as new_plan_at_usage
    from versions as new_version
    inner join versions as old_version
        on new_version.usage_log_id = old_version.usage_log_id
        and new_version.version_number = old_version.version_number + 1

),

changes as (

    select
        *,
        case
            when old_transcription_type is distinct from new_transcription_type
                then 'late_event_reclassified'
            when old_plan_at_usage is distinct from new_plan_at_usage
                and old_is_billable is not distinct from new_is_billable
                and old_billing_reason is not distinct from new_billing_reason
                and old_cost_usd is not distinct from new_cost_usd
                and old_parent_usage_log_id is not distinct from new_parent_usage_log_id
                then 'late_plan_change'
            else 'recomputed'
        end as reason
    from paired

),

final as (

    select
        revision_id,
        usage_log_id,
        attempt_id,
        user_id,
        usage_month,
        cast(version_number as integer) as version_number,
        revised_at,
        reason,
        old_transcription_type,
        new_transcription_type,
        old_is_billable,
        new_is_billable,
        old_billing_reason,
        new_billing_reason,
        cast(old_cost_usd as decimal(18, 6)) as old_cost_usd,
        cast(new_cost_usd as decimal(18, 6)) as new_cost_usd,
        cast(new_cost_usd - old_cost_usd as decimal(18, 6)) as delta_cost_usd,
        old_parent_usage_log_id,
        new_parent_usage_log_id,
        old_plan_at_usage,
        new_plan_at_usage,
        cast(source_batch_id as bigint) as source_batch_id,
        cast(users_batch_id as bigint) as users_batch_id
    from changes

)

select * from final
