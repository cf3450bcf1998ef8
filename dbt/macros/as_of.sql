{#-
  The instant the run acts as of (ISO-8601, UTC). Dagster passes it as the env var COACHWH_AS_OF
  rather than as `--vars`: a var that changes on every run makes dbt re-parse the whole project
  (~400 nodes) every run, an env var only the files that read it. `--vars '{"as_of": ...}'` still
  wins (the unit tests' overrides, the Spark tests); with neither, when dbt started.
-#}
{% macro run_as_of() -%}
    {{- return(var('as_of', env_var('COACHWH_AS_OF', '') or run_started_at.isoformat())) -}}
{%- endmacro %}
