{#-
  The highest value of `column_name` already in the model's table (`this`), as an integer, or -1
  on a first or full build. Read once at compile time and inlined as a literal, so the engine can
  skip old row groups by their min/max statistics instead of joining against a subquery.
-#}
{% macro incremental_watermark(column_name) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(-1) }}
    {%- endif -%}
    {%- set result = run_query("select coalesce(max(" ~ column_name ~ "), -1) as watermark from " ~ this) -%}
    {{ return(result.columns[0].values()[0] | int) }}
{%- endmacro %}

{#-
  The rows of CTE `source_cte` whose `key_column` has at least one row with `batch_column` above
  the model's watermark (max `watermark_column` of `this`): on an incremental run, every row of
  each touched attempt or session; on a first or full build, every row.
-#}
{% macro rows_touched_since_watermark(source_cte, key_column, batch_column, watermark_column) -%}
    {%- if is_incremental() %}
    select *
    from {{ source_cte }}
    where {{ key_column }} in (
        select {{ key_column }}
        from {{ source_cte }}
        where {{ batch_column }} > {{ coachwh.incremental_watermark(watermark_column) }}
    )
    {%- else %}
    select * from {{ source_cte }}
    {%- endif %}
{%- endmacro %}
