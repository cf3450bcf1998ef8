{{
    config(
        materialized='view'
    )
}}

{#-
  The usage logs the snapshot usage_logs_snapshot has to compare: one row per usage log computed
  (inserted or recomputed by marts.usage_logs) after the newest version the snapshot holds.

  Why: a log changes only when usage_logs recomputes it, and every recompute stamps computed_at
  with the build's time, the same for every log of that build. When the snapshot holds a version
  stamped T, the build that computed T ran the snapshot on all of T's logs in one transaction, so
  logs computed at or before T were compared then and cannot have changed since. Strictly after:
  with `>=`, a run after the first build re-compared its ~4.6M logs (7 s at 10M events). A build
  whose recomputes changed nothing leaves the watermark behind: the next run compares those few
  logs again, which finds nothing. A build that skipped the snapshot (a failed upstream test)
  leaves its logs after the watermark too, so they are compared by the next build that runs it.
  The snapshot ignores logs missing from its input (hard_deletes: ignore), so a subset is safe.

  The snapshot's table is named, not ref'd: a ref would make a cycle. Until it exists (the first
  build) every log is returned.
-#}

{%- set snapshot_relation = adapter.get_relation(
        database=this.database, schema=generate_schema_name('snapshots', model), identifier='usage_logs_snapshot'
    ) if execute else none -%}

with usage_logs as (

    select * from {{ ref('usage_logs') }}

),

final as (

    select *
    from usage_logs
    {%- if snapshot_relation is not none %}
    where computed_at > (select max(dbt_updated_at) from {{ snapshot_relation }})
    {%- endif %}

)

select * from final
