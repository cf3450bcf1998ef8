{#-
  Post-hook of every model, seed and snapshot: logs "coachwh_row_count <n>" for a relation whose
  rows are stored (or a view in marts, the public API), so Dagster can put the row count on the
  node's materialization while the build is still running. dbt holds DuckDB's single write lock for
  the whole build, so nothing outside dbt can count the rows before it exits.
  Renders no SQL: dbt skips an empty hook. Off on Spark, where each count would be a job.
-#}
{% macro log_row_count() %}
    {%- if execute and target.type == 'duckdb' -%}
        {%- set materialized = config.get('materialized') -%}
        {%- set stored = materialized in ('table', 'incremental') or model.resource_type in ('seed', 'snapshot') -%}
        {%- if stored or (materialized == 'view' and this.schema == 'marts') -%}
            {%- set result = run_query('select count(*) from ' ~ this) -%}
            {{- log('coachwh_row_count ' ~ result.columns[0].values()[0], info=True) -}}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
