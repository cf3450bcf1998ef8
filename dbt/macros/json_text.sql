{#-
  The text value of top-level key `key` of a JSON column (null when the key is missing or the
  column is null), e.g. the `reason` of a data-subject request among its extra fields.
  Adapter-dispatched; `key` is a literal identifier-like string.
-#}
{% macro json_text(json_column, key) -%}
    {{ return(adapter.dispatch('json_text', 'coachwh')(json_column, key)) }}
{%- endmacro %}

{#- Postgres and engines with the ->> operator. -#}
{% macro default__json_text(json_column, key) -%}
    ({{ json_column }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{% macro spark__json_text(json_column, key) -%}
    get_json_object({{ json_column }}, '$.{{ key }}')
{%- endmacro %}
