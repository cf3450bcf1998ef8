{#-
  UTC calendar arithmetic on timestamptz columns (spec §3.7). The session time zone of the engine
  may not be UTC, and truncating or casting a timestamptz uses it, so convert to UTC first.
-#}

{#- First day of the UTC calendar month of `ts`, as a date. -#}
{% macro utc_month(ts) -%}
    {{ return(adapter.dispatch('utc_month', 'coachwh')(ts)) }}
{%- endmacro %}

{% macro default__utc_month(ts) -%}
    cast({{ dbt.date_trunc('month', '(' ~ ts ~ " at time zone 'UTC')") }} as date)
{%- endmacro %}

{% macro duckdb__utc_month(ts) -%}
    cast({{ dbt.date_trunc('month', "timezone('UTC', " ~ ts ~ ")") }} as date)
{%- endmacro %}

{% macro spark__utc_month(ts) -%}
    cast({{ dbt.date_trunc('month', "to_utc_timestamp(" ~ ts ~ ", current_timezone())") }} as date)
{%- endmacro %}

{#- The UTC calendar date of `ts`. -#}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'coachwh')(ts)) }}
{%- endmacro %}

{% macro default__utc_date(ts) -%}
    cast(({{ ts }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro duckdb__utc_date(ts) -%}
    cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro %}

{% macro spark__utc_date(ts) -%}
    cast(to_utc_timestamp({{ ts }}, current_timezone()) as date)
{%- endmacro %}

{#- The engine's type for an instant (UTC-normalized timestamp). -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'coachwh')()) }}
{%- endmacro %}

{% macro default__type_timestamptz() -%}
    {{ dbt.type_timestamp() }}
{%- endmacro %}

{% macro duckdb__type_timestamptz() -%}
    timestamptz
{%- endmacro %}

{#- The instant a UTC calendar date starts, comparable with timestamptz columns whatever the
    session's time zone (a bare date would be read in the session's zone). -#}
{% macro utc_start_of(date_expr) -%}
    {{ return(adapter.dispatch('utc_start_of', 'coachwh')(date_expr)) }}
{%- endmacro %}

{% macro default__utc_start_of(date_expr) -%}
    cast({{ date_expr }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__utc_start_of(date_expr) -%}
    timezone('UTC', cast({{ date_expr }} as timestamp))
{%- endmacro %}

{#- Snapshot timestamps as instants (timestamptz), like the usage logs' computed_at they track;
    dbt-duckdb's default is a naive timestamp in the session's time zone. -#}
{% macro duckdb__snapshot_get_time() -%}
    {{ current_timestamp() }}
{%- endmacro %}
