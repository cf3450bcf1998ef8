{#-
  Cross-engine helpers that dbt's own cross-database macros do not cover (docs/scale_out.md).
-#}

{#- The non-null values of text `measure` of a group, sorted ascending, joined by
    `delimiter_text` (a SQL string literal). -#}
{% macro sorted_listagg(measure, delimiter_text) -%}
    {{ return(adapter.dispatch('sorted_listagg', 'coachwh')(measure, delimiter_text)) }}
{%- endmacro %}

{% macro default__sorted_listagg(measure, delimiter_text) -%}
    {{ dbt.listagg(measure, delimiter_text, 'order by ' ~ measure) }}
{%- endmacro %}

{#- DuckDB: sorting the collected list is ~1.6x faster than an ordered string_agg (at 10M events
    the statements' digests spent 1.3 s there); the text is the same. -#}
{% macro duckdb__sorted_listagg(measure, delimiter_text) -%}
    array_to_string(list_sort(list({{ measure }}) filter (where {{ measure }} is not null)), {{ delimiter_text }})
{%- endmacro %}

{#- Spark: dbt-spark's listagg ignores the order by clause; sort the collected list instead. -#}
{% macro spark__sorted_listagg(measure, delimiter_text) -%}
    array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }})
{%- endmacro %}


{#- A contract's data_type, as the engine spells it. The contracts (models/**/_*.yml) are written
    in DuckDB's types, the warehouse's API; on Spark the same columns are string and timestamp
    (Spark's timestamp is an instant, like DuckDB's timestamptz). -#}
{% macro contract_type(data_type) -%}
    {{ return(adapter.dispatch('contract_type', 'coachwh')(data_type)) }}
{%- endmacro %}

{% macro default__contract_type(data_type) -%}
    {{ return(data_type) }}
{%- endmacro %}

{% macro spark__contract_type(data_type) -%}
    {%- set spelled = data_type | trim | lower -%}
    {%- set spark_types = {
        'varchar': 'string',
        'text': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'hugeint': 'decimal(38,0)',
    } -%}
    {{ return(spark_types.get(spelled, data_type)) }}
{%- endmacro %}

{#- Overrides dbt's: enforce the (DuckDB-typed) contracts on Spark through contract_type. -#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set spark_columns = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- if column.get('data_type') is not none -%}
            {%- set spark_column = {} -%}
            {%- do spark_column.update(column) -%}
            {%- do spark_column.update({'data_type': coachwh.contract_type(column['data_type'])}) -%}
            {%- do spark_columns.update({name: spark_column}) -%}
        {%- else -%}
            {%- do spark_columns.update({name: column}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(spark_columns)) }}
{% endmacro %}
