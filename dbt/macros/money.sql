{#-
  Exact money arithmetic (spec §3.5). DuckDB returns DOUBLE for any division involving a DECIMAL,
  so rounding `x / n` through `round()` would round a binary approximation (3 s of assemblyai:
  0.0000325 becomes 0.000032). These macros never divide a decimal in floating point.
-#}

{#- numerator / denominator rounded half-up (half away from zero) to `scale` decimals, as
    decimal(38, scale). `numerator` is a decimal expression whose scale is at most
    `numerator_scale`; `denominator` a positive integer. -#}
{% macro money_round_div(numerator, denominator, scale=6, numerator_scale=9) -%}
    {{ return(adapter.dispatch('money_round_div', 'coachwh')(numerator, denominator, scale, numerator_scale)) }}
{%- endmacro %}

{#- Engines whose decimal division is exact and whose round() is half-up on decimals (Spark,
    Postgres, Snowflake, ...). -#}
{% macro default__money_round_div(numerator, denominator, scale, numerator_scale) -%}
    cast(round(cast({{ numerator }} as decimal(38, {{ numerator_scale }})) / {{ denominator }}, {{ scale }}) as decimal(38, {{ scale }}))
{%- endmacro %}

{#- DuckDB: scale the numerator to an integer count of 10^-numerator_scale units, do the half-up
    division in HUGEINT, and scale back by multiplying with an exact decimal. -#}
{% macro duckdb__money_round_div(numerator, denominator, scale, numerator_scale) -%}
    {%- if numerator_scale < scale -%}
        {{ exceptions.raise_compiler_error("money_round_div: numerator_scale must be >= scale") }}
    {%- endif -%}
    {%- set units = "cast(cast(" ~ numerator ~ " as decimal(38, " ~ numerator_scale ~ ")) * " ~ (10 ** numerator_scale) ~ " as hugeint)" -%}
    {%- set divisor = "(cast(" ~ denominator ~ " as hugeint) * " ~ (10 ** (numerator_scale - scale)) ~ ")" -%}
    (
        cast(
            sign({{ units }}) * ((2 * abs({{ units }}) + {{ divisor }}) // (2 * {{ divisor }}))
            as decimal(38, 0)
        ) * cast('{{ "%.*f" | format(scale, 10 ** (0 - scale)) }}' as decimal({{ scale + 1 }}, {{ scale }}))
    )
{%- endmacro %}

{#- The list price of `duration_seconds` of audio at `rate_per_minute_usd`:
    duration_seconds / 60 x rate, rounded half-up to 6 decimals, as decimal(18,6). The operands
    are sized so that the product is exact on every engine (decimal(32,9)). -#}
{% macro usage_cost_usd(duration_seconds, rate_per_minute_usd) -%}
    cast({{ coachwh.money_round_div(
        "cast(" ~ duration_seconds ~ " as decimal(20, 3)) * cast(" ~ rate_per_minute_usd ~ " as decimal(12, 6))",
        60, scale=6, numerator_scale=9) }} as decimal(18, 6))
{%- endmacro %}

{#- ceil(seconds / 60) as an integer, for a non-negative decimal(.., <=3) number of seconds. -#}
{% macro ceil_minutes(seconds) -%}
    {{ return(adapter.dispatch('ceil_minutes', 'coachwh')(seconds)) }}
{%- endmacro %}

{% macro default__ceil_minutes(seconds) -%}
    cast(ceil(cast({{ seconds }} as decimal(38, 3)) / 60) as integer)
{%- endmacro %}

{% macro duckdb__ceil_minutes(seconds) -%}
    cast((cast(cast({{ seconds }} as decimal(38, 3)) * 1000 as hugeint) + 59999) // 60000 as integer)
{%- endmacro %}

{#- Lowercase hex SHA-256 of a text expression (statement digests). -#}
{% macro sha256_hex(text) -%}
    {{ return(adapter.dispatch('sha256_hex', 'coachwh')(text)) }}
{%- endmacro %}

{% macro default__sha256_hex(text) -%}
    sha2({{ text }}, 256)
{%- endmacro %}

{% macro duckdb__sha256_hex(text) -%}
    sha256({{ text }})
{%- endmacro %}

{#- Spark: the same exact integer arithmetic as DuckDB, in decimal(38, 0) and `div` (exact
    integral division). Spark's own decimal division would do, except that past 38 digits of
    precision it rounds the quotient to 6+ decimals first, and rounding twice is not half-up.
    (Spark's sign() is a double: the sign is taken with a case.) -#}
{% macro spark__money_round_div(numerator, denominator, scale, numerator_scale) -%}
    {%- if numerator_scale < scale -%}
        {{ exceptions.raise_compiler_error("money_round_div: numerator_scale must be >= scale") }}
    {%- endif -%}
    {%- set units = "cast(cast(" ~ numerator ~ " as decimal(38, " ~ numerator_scale ~ ")) * " ~ (10 ** numerator_scale) ~ " as decimal(38, 0))" -%}
    {%- set divisor = "(cast(" ~ denominator ~ " as decimal(38, 0)) * " ~ (10 ** (numerator_scale - scale)) ~ ")" -%}
    (
        cast(
            case when {{ units }} < 0 then -1 else 1 end
            * ((2 * abs({{ units }}) + {{ divisor }}) div (2 * {{ divisor }}))
            as decimal(38, 0)
        ) * cast('{{ "%.*f" | format(scale, 10 ** (0 - scale)) }}' as decimal({{ scale + 1 }}, {{ scale }}))
    )
{%- endmacro %}

{% macro spark__ceil_minutes(seconds) -%}
    cast((cast(cast({{ seconds }} as decimal(38, 3)) * 1000 as decimal(38, 0)) + 59999) div 60000 as integer)
{%- endmacro %}
