{{ config(materialized='view') }}

{#-
  Spec §4.4-4.5. Every data-subject request with its processing state, as of query time (a view,
  so is_overdue is always current). A request without a status row is `pending`. due_at is 30
  days of 24 h after requested_at (hours, not calendar days, so a DST change in the session's
  time zone does not move it).
-#}

with requests as (

    select * from {{ ref('stg_platform__gdpr_requests') }}

),

request_status as (

    select * from {{ ref('stg_governance__gdpr_request_status') }}

),

joined as (

    select
        requests.request_id,
        requests.requested_at,
        requests.request_type,
        requests.subject_type,
        requests.subject_id,
        requests.requested_by,
        {{ coachwh.json_text('requests.extra_fields', 'reason') }} as reason,
        coalesce(request_status.request_status, 'pending') as status,
        request_status.request_outcome as outcome,
        coalesce(request_status.attempts, 0) as attempts,
        request_status.last_error,
        request_status.first_attempt_at,
        request_status.last_attempt_at,
        cast({{ coachwh.add_hours('requests.requested_at', 30 * 24) }} as {{ coachwh.type_timestamptz() }}) as due_at,
        request_status.completed_at,
        request_status.export_path,
        request_status.vault_rows_erased
    from requests
    left join request_status
        on requests.request_id = request_status.request_id

),

final as (

    select
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        requested_at,
        cast(request_type as {{ dbt.type_string() }}) as request_type,
        cast(subject_type as {{ dbt.type_string() }}) as subject_type,
        cast(subject_id as {{ dbt.type_string() }}) as subject_id,
        cast(requested_by as {{ dbt.type_string() }}) as requested_by,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(outcome as {{ dbt.type_string() }}) as outcome,
        cast(attempts as integer) as attempts,
        cast(last_error as {{ dbt.type_string() }}) as last_error,
        first_attempt_at,
        last_attempt_at,
        due_at,
        completed_at,
        status <> 'completed' and {{ dbt.current_timestamp() }} > due_at as is_overdue,
        coalesce(status = 'completed' and completed_at > due_at, false) as is_completed_late,
        cast(export_path as {{ dbt.type_string() }}) as export_path,
        cast(vault_rows_erased as bigint) as vault_rows_erased
    from joined

)

select * from final
