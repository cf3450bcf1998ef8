{#-
  What the Spark targets need beyond dispatched SQL (docs/scale_out.md).
-#}

{#-
  on-run-start: register every dbt source as an external Parquet table over the lake that
  dagster_project/lake.py publishes (`<COACHWH_LAKE_DIR>/<schema>/<table>/`). Dropped and created
  again on every run, so the tables always have the lake's current columns and files (dropping an
  external table leaves its files alone). A no-op on DuckDB, and on a cluster whose catalog already
  holds the sources (COACHWH_LAKE_DIR unset).
-#}
{% macro register_lake_tables() %}
    {%- if execute and target.type == 'spark' and env_var('COACHWH_LAKE_DIR', '') -%}
        {%- set lake = env_var('COACHWH_LAKE_DIR').rstrip('/') -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- if source.schema not in schemas -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
                {%- do schemas.append(source.schema) -%}
            {%- endif -%}
            {%- set table = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query("create table " ~ table ~ " using parquet location '"
                             ~ lake ~ "/" ~ source.schema ~ "/" ~ source.identifier ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}


{#-
  Incremental `delete+insert` on Spark. The models keep incremental_strategy='delete+insert' (the
  DuckDB strategy: replace every row whose unique_key is in the new rows); on Spark it becomes
    - `merge` when the file format supports it (delta, iceberg, hudi: a real cluster's lakehouse);
    - otherwise (plain Parquet tables of the session catalog, what runs offline here): the new
      rows and the table's untouched rows are written to `<model>__dbt_swap`, then
      `insert overwrite` puts them back. Spark cannot overwrite a table from a query that reads
      it, hence the swap table. It costs a copy of the table per run, fine at the sizes a local
      Spark is for; a cluster uses Delta/Iceberg and `merge`.
  These two macros override dbt-spark's of the same name (the root project's macros win).
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {%- do return('merge' if file_format in ['delta', 'iceberg', 'hudi'] else 'delete+insert') -%}
    {%- endif -%}
    {%- do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) -%}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy != 'delete+insert' -%}
        {{ dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- else -%}
        {%- set keys = [unique_key] if unique_key is string else unique_key -%}
        {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
        {%- set swap = target.incorporate(path={'identifier': target.identifier ~ '__dbt_swap'}) -%}
        {%- set key_match -%}
            {%- for key in keys %}{{ 'and ' if not loop.first }}new_rows.{{ key }} = old_rows.{{ key }} {% endfor -%}
        {%- endset -%}
        {%- do run_query('drop table if exists ' ~ swap) -%}
        {%- call statement('coachwh_swap') -%}
            create table {{ swap }} using parquet as
            select {{ columns }} from {{ target }} as old_rows
            where not exists (select 1 from {{ source }} as new_rows where {{ key_match }})
            union all
            select {{ columns }} from {{ source }}
        {%- endcall -%}
        {%- call statement('coachwh_overwrite') -%}
            insert overwrite table {{ target }} select {{ columns }} from {{ swap }}
        {%- endcall -%}
        drop table if exists {{ swap }}
    {%- endif -%}
{% endmacro %}


{#-
  Seeds on Spark: dbt-spark's session connection pastes bindings into the SQL unquoted-escaped (a
  quote in a seed value breaks the statement) and turns decimals into floats. Render each value
  as an escaped string literal cast to its column type instead: exact, and any text loads.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        cast(null as {{ type }})
                    {%- else -%}
                        cast('{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}' as {{ type }})
                    {%- endif -%}
                    {{- ', ' if not loop.last -}}
                {%- endfor -%}){{ ',' if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}


{#-
  run-operation for the billing close on Spark (dagster_project/billing/figures.py): write the open
  rows of the three relations a close freezes as Parquet under `folder`, for DuckDB to read. The
  lake tables are registered again first, so the views see the ledger as published just now.
  Instants are written as TIMESTAMP_MICROS (UTC-adjusted), which DuckDB reads as timestamptz.
-#}
{% macro export_billing_figures(folder) %}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error('export_billing_figures is for the Spark targets') }}
    {%- endif -%}
    {%- do coachwh.register_lake_tables() -%}
    {%- do run_query('set spark.sql.parquet.outputTimestampType = TIMESTAMP_MICROS') -%}
    {%- set exports = {
        'billing_statements': 'select * from marts.billing_statements where not is_closed',
        'int_billing_log_charges': 'select * from intermediate.int_billing_log_charges where billing_month not in (select billing_month from billing.closed_months)',
        'billing_adjustments': 'select * from marts.billing_adjustments where not is_final',
    } -%}
    {%- for name, query in exports.items() -%}
        {%- do run_query("insert overwrite directory '" ~ folder.rstrip('/') ~ "/" ~ name ~ "' using parquet " ~ query) -%}
    {%- endfor -%}
{% endmacro %}
