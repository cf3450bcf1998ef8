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
