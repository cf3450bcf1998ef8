{#-
  Window: the last non-null `value` among the rows before the current one in
  `partition by ... order by ...` (`window_spec`, without the frame).
-#}
{% macro last_non_null_before(value, window_spec) -%}
    {{ return(adapter.dispatch('last_non_null_before', 'coachwh')(value, window_spec)) }}
{%- endmacro %}

{% macro default__last_non_null_before(value, window_spec) -%}
    last({{ value }}, true) over ({{ window_spec }} rows between unbounded preceding and 1 preceding)
{%- endmacro %}

{% macro duckdb__last_non_null_before(value, window_spec) -%}
    last_value({{ value }} ignore nulls) over ({{ window_spec }} rows between unbounded preceding and 1 preceding)
{%- endmacro %}
