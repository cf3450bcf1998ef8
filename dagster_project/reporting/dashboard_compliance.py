"""The dashboard's compliance section: GDPR requests, retention, the audit chain, quarantine.

These are the warehouse's state now, not figures of a month range. Nothing here names a person:
GDPR requests are counted, never listed, and quarantine reasons are reduced to their kind (the
detail after `:` can hold an event id).
"""

from __future__ import annotations

from typing import Any

import duckdb

from dagster_project.audit.trail import verify

GDPR_REQUESTS = """
with requests as (

    select * from marts.gdpr_requests

)

select
    request_type,
    count(*) as requests,
    count(*) filter (where status <> 'completed') as open,
    count(*) filter (where status = 'completed') as completed,
    count(*) filter (where is_overdue) as overdue,
    count(*) filter (where is_completed_late) as completed_late,
    count(*) filter (where status = 'failed') as failing
from requests
group by request_type
order by request_type
"""

# The latest enforcing (not dry) run of each policy; policies never enforced are listed too.
LAST_RETENTION_RUNS = """
with policies as (

    select * from reference.data_retention_policies

),

runs as (

    select * from marts.retention_runs where not is_dry_run

),

latest_runs as (

    select *
    from runs
    qualify row_number() over (partition by data_category order by run_at desc, retention_run_id desc) = 1

)

select
    coalesce(policies.data_category, latest_runs.data_category) as policy,
    coalesce(latest_runs.retention_action, policies.action) as action,
    coalesce(latest_runs.retention_days, policies.retention_days) as retention_days,
    strftime(latest_runs.run_at, '%Y-%m-%d %H:%M') as last_run_at,
    latest_runs.rows_evaluated,
    latest_runs.rows_acted_on,
    latest_runs.rows_failed,
    coalesce(latest_runs.run_status, 'never run') as status
from policies
full outer join latest_runs
    on policies.data_category = latest_runs.data_category
order by policy
"""

QUARANTINE_BY_REASON = """
with quarantine as (

    select * from raw.quarantine

),

reasons as (

    -- `missing_required_field:user_id;missing_required_field:client_id` -> missing_required_field
    select
        stream,
        array_to_string(
            list_sort(list_distinct(list_transform(string_split(reason, ';'), lambda part: split_part(part, ':', 1)))),
            ' + '
        ) as reason_kind
    from quarantine

)

select stream, reason_kind, count(*) as records
from reasons
group by all
order by records desc, stream, reason_kind
"""


def _fetch(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def collect_compliance(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """GDPR request counts, last retention run per policy, audit chain status, quarantine by reason."""
    requests = _fetch(conn, GDPR_REQUESTS)
    totals = {key: sum(r[key] for r in requests) for key in ("requests", "open", "completed", "overdue",
                                                              "completed_late", "failing")}
    chain = verify(conn)
    quarantine = _fetch(conn, QUARANTINE_BY_REASON)
    return {
        "gdpr": {"by_type": requests, "totals": totals},
        "retention": _fetch(conn, LAST_RETENTION_RUNS),
        "audit_chain": {
            "ok": chain.ok,
            "records": chain.count,
            "head_hash": chain.head_hash,
            "summary": chain.summary(),
        },
        "quarantine": {"by_reason": quarantine, "total": sum(r["records"] for r in quarantine)},
    }
