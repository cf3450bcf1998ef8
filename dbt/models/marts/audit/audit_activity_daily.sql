{#-
  Spec §5, issue 5. One row per UTC day, source (`warehouse`: audit.audit_logs; `platform`: the
  platform's audit events), activity (the warehouse's operation or the platform's event_type) and
  severity, with the number of records. Warehouse operations carry no severity of their own: it is
  given by what they touch (macro-free mapping below, documented in _audit__models.yml).
-#}

with warehouse_records as (

    select * from {{ ref('stg_audit__audit_logs') }}

),

platform_events as (

    select * from {{ ref('platform_audit_events') }}

),

warehouse_activity as (

    select
        {{ coachwh.utc_date('occurred_at') }} as activity_date,
        'warehouse' as activity_source,
        operation as activity,
        case
            when operation in ('gdpr_erasure', 'full_refresh', 'backfill', 'config_change') then 'high'
            when operation in ('gdpr_export', 'billing_close', 'usage_restatement', 'retention_run',
                               'quarantine', 'archive_month') then 'medium'
            else 'low'
        end as severity,
        actor,
        cast(null as boolean) as is_checksum_valid
    from warehouse_records

),

platform_activity as (

    select
        event_date as activity_date,
        'platform' as activity_source,
        event_type as activity,
        severity,
        coalesce(actor_user_id, 'system') as actor,
        is_checksum_valid
    from platform_events

),

unioned as (

    select * from warehouse_activity
    union all
    select * from platform_activity

),

final as (

    select
        activity_date,
        cast(activity_source as {{ dbt.type_string() }}) as activity_source,
        cast(activity as {{ dbt.type_string() }}) as activity,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(count(*) as bigint) as event_count,
        cast(count(distinct actor) as bigint) as distinct_actors,
        cast(sum(case when is_checksum_valid = false then 1 else 0 end) as bigint) as checksum_mismatches
    from unioned
    group by activity_date, activity_source, activity, severity

)

select * from final
