{#-
  The staging step of a snapshot, compared only against the versions it can change.

  dbt's staging query joins the snapshot's input with every current version of the snapshot. With
  `hard_deletes: ignore`, a current version whose key is not in the input is left as it is, so
  reading it is wasted work: at 10M events usage_logs_snapshot holds ~4.6M current versions while
  a new day recomputes ~20k logs, and the full join took 8 s of a 28 s build. Narrowing the target
  to the keys of the input gives the same staging rows (the same inserts and updates) in ~0.1 s.

  dbt's own staging logic is reused unchanged: the narrowed target goes in where dbt renders the
  snapshot's relation (`from <target>`). With `invalidate` or `new_record` deletes the staging
  must see every current version, so those snapshots, and composite keys, keep dbt's full join.
  Dispatched for DuckDB and Spark (the project's snapshot materialization on Parquet calls it too);
  the narrowing is a plain `in (subquery)`.
-#}

{% macro duckdb__snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {{ coachwh.narrowed_snapshot_staging_table(strategy, source_sql, target_relation) }}
{%- endmacro %}

{% macro spark__snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {{ coachwh.narrowed_snapshot_staging_table(strategy, source_sql, target_relation) }}
{%- endmacro %}

{% macro narrowed_snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {%- set unique_key = strategy.unique_key -%}
    {%- if strategy.hard_deletes == 'ignore' and unique_key is string -%}
        {%- set narrowed_target -%}
            (
                select *
                from {{ target_relation }}
                where {{ unique_key }} in (
                    select {{ unique_key }} from ({{ source_sql }}) as snapshot_input
                )
            ) as narrowed_snapshot
        {%- endset -%}
        {{ dbt.default__snapshot_staging_table(strategy, source_sql, narrowed_target) }}
    {%- else -%}
        {{ dbt.default__snapshot_staging_table(strategy, source_sql, target_relation) }}
    {%- endif -%}
{%- endmacro %}
