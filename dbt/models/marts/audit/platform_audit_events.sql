{#-
  Spec §2.4, §5. One row per platform audit event (event_id), with the verdict on its checksum
  (is_checksum_valid, recomputed at ingestion by dagster_project/audit/platform_checksum.py). An
  event whose checksum does not match is kept and flagged, never dropped. No ip_address: it is PII
  and lives in the vault.
-#}

with events as (

    select * from {{ ref('stg_platform__audit_events') }}

),

checks as (

    select * from {{ ref('stg_audit__platform_event_checks') }}

),

final as (

    select
        cast(events.event_id as {{ dbt.type_string() }}) as event_id,
        events.occurred_at,
        {{ coachwh.utc_date('events.occurred_at') }} as event_date,
        cast(events.event_type as {{ dbt.type_string() }}) as event_type,
        cast(events.severity as {{ dbt.type_string() }}) as severity,
        cast(events.actor_user_id as {{ dbt.type_string() }}) as actor_user_id,
        cast(events.entity_type as {{ dbt.type_string() }}) as entity_type,
        cast(events.entity_id as {{ dbt.type_string() }}) as entity_id,
        cast(events.operation as {{ dbt.type_string() }}) as operation,
        cast(events.description as {{ dbt.type_string() }}) as description,
        cast(events.user_agent as {{ dbt.type_string() }}) as user_agent,
        cast(events.old_values as {{ dbt.type_string() }}) as old_values,
        cast(events.new_values as {{ dbt.type_string() }}) as new_values,
        cast(events.checksum as {{ dbt.type_string() }}) as checksum,
        checks.is_checksum_valid
    from events
    left join checks
        on events.event_id = checks.event_id

)

select * from final
