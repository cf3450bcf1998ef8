{#-
  Snapshots on Spark over plain Parquet tables (the session catalog, what runs offline here).

  dbt-spark's snapshot needs MERGE, i.e. Delta, Iceberg or Hudi, whose jars come from Maven. This
  materialization (the root project's wins over the adapter's) keeps dbt's own staging logic
  (`snapshot_staging_table`: which versions are new, changed or gone) and applies it the way the
  incremental models do on Parquet (spark.sql): the table's rows, current versions closed where
  the staging rows say so, plus the staging rows to insert, are written to `<snapshot>__dbt_swap`,
  then `insert overwrite` puts them back. With delta/iceberg/hudi it is a MERGE, as in dbt-spark.
-#}
{% materialization snapshot, adapter='spark' %}

    {%- set file_format = config.get('file_format') or 'parquet' -%}
    {%- set strategy_name = config.get('strategy') -%}
    {%- set names = config.get('snapshot_table_column_names') or get_snapshot_table_column_names() -%}
    {%- set exists, target_relation = get_or_create_relation(
            database=none, schema=model.schema, identifier=model.get('alias', model.get('name')), type='table') -%}

    {%- if not adapter.check_schema_exists(model.database, model.schema) -%}
        {%- do create_schema(model.schema) -%}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set strategy = strategy_dispatch(strategy_name)(
            model, "snapshotted_data", "source_data", model['config'], exists) -%}

    {%- if not exists -%}
        {%- call statement('main') -%}
            {{ create_table_as(False, target_relation, build_snapshot_table(strategy, model['compiled_code'])) }}
        {%- endcall -%}
    {%- else -%}
        {{ adapter.valid_snapshot_target(target_relation, names) }}
        {%- set staging = spark_build_snapshot_staging_table(strategy, sql, target_relation) -%}
        {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='quoted') | list -%}
        {%- if file_format in ['delta', 'iceberg', 'hudi'] -%}
            {%- call statement('main') -%}
                {{ snapshot_merge_sql(target=target_relation, source=staging, insert_cols=columns) }}
            {%- endcall -%}
        {%- else -%}
            {%- set swap = target_relation.incorporate(path={'identifier': target_relation.identifier ~ '__dbt_swap'}) -%}
            {%- set valid_to = adapter.quote(names.dbt_valid_to) -%}
            {%- set closed = [] -%}
            {%- for column in columns -%}
                {%- if column == valid_to -%}
                    {%- do closed.append('coalesce(closing.' ~ valid_to ~ ', kept.' ~ valid_to ~ ') as ' ~ valid_to) -%}
                {%- else -%}
                    {%- do closed.append('kept.' ~ column) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do run_query('drop table if exists ' ~ swap) -%}
            {%- call statement('coachwh_snapshot_swap') -%}
                create table {{ swap }} using parquet as
                select {{ closed | join(', ') }}
                from {{ target_relation }} as kept
                left join (
                    select {{ names.dbt_scd_id }}, {{ names.dbt_valid_to }}
                    from {{ staging }}
                    where dbt_change_type in ('update', 'delete')
                ) as closing
                    on closing.{{ names.dbt_scd_id }} = kept.{{ names.dbt_scd_id }}
                    and kept.{{ names.dbt_valid_to }} is null
                union all
                select {{ columns | join(', ') }}
                from {{ staging }}
                where dbt_change_type = 'insert'
            {%- endcall -%}
            {%- call statement('main') -%}
                insert overwrite table {{ target_relation }} select {{ columns | join(', ') }} from {{ swap }}
            {%- endcall -%}
            {%- do run_query('drop table if exists ' ~ swap) -%}
        {%- endif -%}
    {%- endif -%}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {%- if staging is defined -%}
        {%- do post_snapshot(staging) -%}
    {%- endif -%}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
