{#-
  Helpers of the billing analytics marts (marts.billing_analytics_*, US009).
-#}

{#- numerator x multiplier / denominator, rounded half-up (half away from zero) to `scale`
    decimals, as decimal(38, scale); null when the denominator is 0. Both operands are decimal
    expressions (of either sign) whose scale is at most `operand_scale`. Used for percentages
    (multiplier=100), where both operands are money and money_round_div (integer denominator)
    does not apply. -#}
{% macro ratio_round(numerator, denominator, scale=2, multiplier=1, operand_scale=6) -%}
    {{ return(adapter.dispatch('ratio_round', 'coachwh')(numerator, denominator, scale, multiplier, operand_scale)) }}
{%- endmacro %}

{#- Engines whose decimal division is exact enough and whose round() is half-up on decimals. -#}
{% macro default__ratio_round(numerator, denominator, scale, multiplier, operand_scale) -%}
    case
        when cast({{ denominator }} as decimal(38, {{ operand_scale }})) = 0 then null
        else cast(round(
            cast({{ numerator }} as decimal(38, {{ operand_scale }})) * {{ multiplier }}
                / cast({{ denominator }} as decimal(38, {{ operand_scale }})),
            {{ scale }}
        ) as decimal(38, {{ scale }}))
    end
{%- endmacro %}

{#- DuckDB divides decimals in floating point: scale both operands to integer counts of
    10^-operand_scale units (HUGEINT), divide half-up in integers, scale back exactly. -#}
{% macro duckdb__ratio_round(numerator, denominator, scale, multiplier, operand_scale) -%}
    {%- set factor = 10 ** operand_scale -%}
    {%- set num = "(cast(cast(" ~ numerator ~ " as decimal(38, " ~ operand_scale ~ ")) * " ~ factor ~ " as hugeint) * " ~ (multiplier * 10 ** scale) ~ ")" -%}
    {%- set den = "cast(cast(" ~ denominator ~ " as decimal(38, " ~ operand_scale ~ ")) * " ~ factor ~ " as hugeint)" -%}
    case
        when {{ den }} = 0 then null
        else cast(
            sign({{ num }}) * sign({{ den }}) * ((2 * abs({{ num }}) + abs({{ den }})) // (2 * abs({{ den }})))
            as decimal(38, 0)
        ) * cast('{{ "%.*f" | format(scale, 10 ** (0 - scale)) }}' as decimal({{ scale + 1 }}, {{ scale }}))
    end
{%- endmacro %}

{#- Every attempt's contribution to a month's usage and provider cost, as a select over CTEs
    the calling model defines (so its refs stay visible in the model):
      - `usage_logs` (marts.usage_logs): every usage log, in its usage_month (UTC month of the
        completion), with its plan_at_usage, charge (cost_usd) and provider_cost_usd (carried
        by the event, else estimated: usage_logs' rule);
      - `classified_attempts` (intermediate.int_attempt_classification): every failed attempt
        that has no usage log, in the UTC month of its failure, with the provider_cost_usd its
        failure event carried (0 when none: a failure has no duration to estimate it from) and
        the plan in effect at the failure (`plan_history`, spec §3.6: free when none).
    One row per usage log or failed attempt. -#}
{% macro billing_analytics_attempt_costs(usage_logs, classified_attempts, plan_history) -%}
    select
        {{ usage_logs }}.usage_month as billing_month,
        {{ usage_logs }}.user_id,
        {{ usage_logs }}.stt_provider,
        {{ usage_logs }}.plan_at_usage,
        true as is_usage_log,
        {{ usage_logs }}.transcription_type,
        {{ usage_logs }}.is_billable,
        cast({{ usage_logs }}.duration_seconds as decimal(18, 3)) as duration_seconds,
        cast(
            case when {{ usage_logs }}.is_billable then {{ usage_logs }}.duration_seconds else 0 end
            as decimal(18, 3)
        ) as billable_seconds,
        cast({{ usage_logs }}.cost_usd as decimal(18, 6)) as cost_usd,
        cast({{ usage_logs }}.provider_cost_usd as decimal(18, 6)) as provider_cost_usd
    from {{ usage_logs }}

    union all

    select
        {{ coachwh.utc_month('failed_attempts.outcome_at') }} as billing_month,
        failed_attempts.user_id,
        failed_attempts.stt_provider,
        coalesce(failure_plans.plan, 'free') as plan_at_usage,
        false as is_usage_log,
        cast(null as {{ dbt.type_string() }}) as transcription_type,
        false as is_billable,
        cast(0 as decimal(18, 3)) as duration_seconds,
        cast(0 as decimal(18, 3)) as billable_seconds,
        cast(0 as decimal(18, 6)) as cost_usd,
        cast(coalesce(failed_attempts.provider_cost_usd, 0) as decimal(18, 6)) as provider_cost_usd
    from {{ classified_attempts }} as failed_attempts
    left join {{ plan_history }} as failure_plans
        on failed_attempts.user_id = failure_plans.user_id
        and failure_plans.valid_from <= failed_attempts.outcome_at
        and (failure_plans.valid_to is null or failed_attempts.outcome_at < failure_plans.valid_to)
    where failed_attempts.outcome = 'failed'
      and not exists (
          select 1
          from {{ usage_logs }} as logged
          where logged.attempt_id = failed_attempts.attempt_id
      )
{%- endmacro %}

{#- The months the billing analytics cover: every UTC month from the earliest to the latest month
    with a billing statement (`statements` CTE, billing_month) or an attempt cost (`attempt_costs`
    CTE, billing_month), without gaps. One row per month (`billing_month`, a date). -#}
{% macro billing_analytics_months(statements, attempt_costs) -%}
    {%- set bounds_sql -%}
        select min(billing_month) as first_month, max(billing_month) as last_month
        from (
            select billing_month from {{ statements }}
            union all
            select billing_month from {{ attempt_costs }}
        ) as months_with_data
    {%- endset -%}
    select cast(spine.date_month as date) as billing_month
    from (
        {{ dbt.date_spine('month', "cast('2020-01-01' as date)", "cast('2040-01-01' as date)") }}
    ) as spine
    cross join ({{ bounds_sql }}) as bounds
    where cast(spine.date_month as date) between bounds.first_month and bounds.last_month
{%- endmacro %}

{#- Spark: DuckDB's integer method in decimal(38, 0) with exact `div` (Spark's decimal division
    rounds an intermediate quotient once its precision passes 38 digits; sign() is a double). -#}
{% macro spark__ratio_round(numerator, denominator, scale, multiplier, operand_scale) -%}
    {%- set factor = 10 ** operand_scale -%}
    {%- set num = "(cast(cast(" ~ numerator ~ " as decimal(38, " ~ operand_scale ~ ")) * " ~ factor ~ " as decimal(38, 0)) * " ~ (multiplier * 10 ** scale) ~ ")" -%}
    {%- set den = "cast(cast(" ~ denominator ~ " as decimal(38, " ~ operand_scale ~ ")) * " ~ factor ~ " as decimal(38, 0))" -%}
    case
        when {{ den }} = 0 then null
        else cast(
            case when ({{ num }} < 0) = ({{ den }} < 0) or {{ num }} = 0 then 1 else -1 end
            * ((2 * abs({{ num }}) + abs({{ den }})) div (2 * abs({{ den }})))
            as decimal(38, 0)
        ) * cast('{{ "%.*f" | format(scale, 10 ** (0 - scale)) }}' as decimal({{ scale + 1 }}, {{ scale }}))
    end
{%- endmacro %}
