{#- Generic data tests of the project (no dbt hub packages are available here). -#}

{#- Fails for every group of `combination_of_columns` that occurs more than once. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns_csv = combination_of_columns | join(', ') %}
    select {{ columns_csv }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
{% endtest %}

{#- Fails for every row where the SQL boolean `expression` is not true. -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}

{#- Fails for every row where `column_name` is not exactly zero although `condition` is false
    (for example: a usage log that is not billable must cost exactly 0). -#}
{% test zero_unless(model, column_name, condition) %}
    select *
    from {{ model }}
    where not coalesce(({{ condition }}), false)
      and ({{ column_name }} is null or {{ column_name }} <> 0)
{% endtest %}
