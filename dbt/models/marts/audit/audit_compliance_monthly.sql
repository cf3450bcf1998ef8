{{ config(materialized='view') }}

{#-
  Issue 5 point 5. One row per UTC month with any audit activity or data-subject request: high and
  critical events (both sources), GDPR events (the platform's gdpr_* event types and the warehouse's
  gdpr_* operations), erasures completed (governance.erasures, by request or retention), requests
  received that month and, of those, completed, completed late and still overdue, and platform
  events whose checksum did not match. A view: overdue is judged as of the query.
-#}

with activity as (

    select * from {{ ref('audit_activity_daily') }}

),

requests as (

    select * from {{ ref('gdpr_requests') }}

),

erasures as (

    select * from {{ ref('stg_governance__erasures') }}

),

activity_by_month as (

    select
        {{ dbt.date_trunc('month', 'activity_date') }} as compliance_month,
        sum(case when severity = 'high' then event_count else 0 end) as high_severity_events,
        sum(case when severity = 'critical' then event_count else 0 end) as critical_severity_events,
        sum(case when activity like 'gdpr%' then event_count else 0 end) as gdpr_events,
        sum(checksum_mismatches) as checksum_mismatches
    from activity
    group by 1

),

requests_by_month as (

    select
        {{ coachwh.utc_month('requested_at') }} as compliance_month,
        count(*) as requests_received,
        sum(case when status = 'completed' then 1 else 0 end) as requests_completed,
        sum(case when is_completed_late then 1 else 0 end) as requests_completed_late,
        sum(case when is_overdue then 1 else 0 end) as requests_overdue
    from requests
    group by 1

),

erasures_by_month as (

    select
        {{ coachwh.utc_month('erased_at') }} as compliance_month,
        count(*) as erasures_completed
    from erasures
    group by 1

),

months as (

    select cast(compliance_month as date) as compliance_month from activity_by_month
    union
    select compliance_month from requests_by_month
    union
    select compliance_month from erasures_by_month

),

final as (

    select
        months.compliance_month,
        cast(coalesce(a.high_severity_events, 0) as bigint) as high_severity_events,
        cast(coalesce(a.critical_severity_events, 0) as bigint) as critical_severity_events,
        cast(coalesce(a.gdpr_events, 0) as bigint) as gdpr_events,
        cast(coalesce(e.erasures_completed, 0) as bigint) as erasures_completed,
        cast(coalesce(r.requests_received, 0) as bigint) as requests_received,
        cast(coalesce(r.requests_completed, 0) as bigint) as requests_completed,
        cast(coalesce(r.requests_completed_late, 0) as bigint) as requests_completed_late,
        cast(coalesce(r.requests_overdue, 0) as bigint) as requests_overdue,
        cast(coalesce(a.checksum_mismatches, 0) as bigint) as checksum_mismatches
    from months
    left join activity_by_month as a on cast(a.compliance_month as date) = months.compliance_month
    left join requests_by_month as r on r.compliance_month = months.compliance_month
    left join erasures_by_month as e on e.compliance_month = months.compliance_month

)

select * from final
