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

{#- Spark: from the instant's microseconds since the epoch, so the session's time zone (and its
    DST gaps) never enters. -#}
{% macro spark__utc_month(ts) -%}
    trunc({{ coachwh.spark__utc_date(ts) }}, 'MM')
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
    date_from_unix_date(cast(unix_micros({{ ts }}) div 86400000000 as int))
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

{% macro spark__utc_start_of(date_expr) -%}
    timestamp_micros(cast(unix_date(cast({{ date_expr }} as date)) as bigint) * 86400000000)
{%- endmacro %}

{#- `date_expr` plus `months` calendar months, as a date (null stays null). -#}
{% macro add_months(date_expr, months) -%}
    {{ return(adapter.dispatch('add_months', 'coachwh')(date_expr, months)) }}
{%- endmacro %}

{% macro default__add_months(date_expr, months) -%}
    cast({{ dbt.dateadd('month', months, date_expr) }} as date)
{%- endmacro %}

{#- Spark: dbt-spark's dateadd asserts its argument is not null (a max() over no closed month is
    null) and goes through the session's time zone; add_months does neither. -#}
{% macro spark__add_months(date_expr, months) -%}
    add_months(cast({{ date_expr }} as date), {{ months }})
{%- endmacro %}

{#- Instant `ts` plus `hours` hours of 60 minutes (not calendar days: no DST shift). -#}
{% macro add_hours(ts, hours) -%}
    {{ return(adapter.dispatch('add_hours', 'coachwh')(ts, hours)) }}
{%- endmacro %}

{% macro default__add_hours(ts, hours) -%}
    {{ dbt.dateadd('hour', hours, ts) }}
{%- endmacro %}

{#- Spark: dbt-spark's dateadd goes through whole unix seconds and drops the microseconds. -#}
{% macro spark__add_hours(ts, hours) -%}
    timestamp_micros(unix_micros({{ ts }}) + cast({{ hours }} as bigint) * 3600000000)
{%- endmacro %}

{#- Snapshot timestamps as instants (timestamptz), like the usage logs' computed_at they track;
    dbt-duckdb's default is a naive timestamp in the session's time zone. -#}
{% macro duckdb__snapshot_get_time() -%}
    {{ current_timestamp() }}
{%- endmacro %}
