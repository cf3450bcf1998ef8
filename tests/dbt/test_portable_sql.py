"""Lint: no DuckDB-only SQL in the dbt models, tests and snapshots, outside adapter-dispatched macros.

The same project builds on DuckDB and on Spark (docs/scale_out.md; spec §7). Engine-specific SQL
lives in macros (dbt's cross-database macros, or `adapter.dispatch` with duckdb__/spark__
implementations in dbt/macros/); a model only calls them. This scans the SQL a model author
writes (not dbt/macros/), without its comments, string literals and Jinja (macro calls are the
portable way), for constructs that DuckDB accepts and Spark does not, or reads differently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
SCANNED = ("models", "tests", "snapshots", "analyses")

# (pattern, what to use instead). Case-insensitive, matched against code without comments,
# string literals or Jinja.
DUCKDB_ONLY: list[tuple[str, str]] = [
    (r"::", "cast(x as type), with dbt.type_* for the type"),
    (r"\bqualify\b", "a row_number() in a CTE and a where clause"),
    (r"\bepoch(_ms|_us|_ns)?\s*\(", "a dispatched macro (macros/time.sql)"),
    (r"\b(strftime|strptime)\s*\(", "a dispatched macro, or cast to date/timestamp"),
    (r"\b(make_timestamp|make_timestamptz|make_date|make_time)\s*\(", "a dispatched macro"),
    (r"\btimezone\s*\(|\bat\s+time\s+zone\b", "coachwh.utc_date / utc_month / utc_start_of"),
    (r"\bdate_trunc\s*\(", "dbt.date_trunc (Spark's returns a timestamp), or coachwh.utc_month"),
    (r"\b(date_diff|datediff|date_sub|date_add|dateadd)\s*\(", "dbt.datediff / coachwh.add_months / add_hours"),
    (r"\binterval\b", "coachwh.add_months / coachwh.add_hours (interval syntax differs)"),
    (r"\b(list|list_\w+|array_\w+|struct_pack|struct_extract|struct_insert|unnest|generate_series|range)\s*\(",
     "a dispatched macro (list and struct functions differ)"),
    (r"\b(regexp_matches|regexp_full_match|regexp_split_to_array|string_split|str_split|strpos)\s*\(",
     "a dispatched macro, or dbt.split_part / dbt.position"),
    (r"\b(json_extract\w*|json_value|json_keys|json_transform)\s*\(|->>|->", "coachwh.json_text"),
    (r"\btry_cast\s*\(", "dbt.safe_cast"),
    (r"\b(md5|sha1|sha256|hash|md5_number)\s*\(", "dbt.hash or coachwh.sha256_hex"),
    (r"\b(string_agg|listagg|group_concat)\s*\(", "dbt.listagg or coachwh.sorted_listagg"),
    (r"\bignore\s+nulls\b", "coachwh.last_non_null_before"),
    (r"\b(hugeint|uhugeint|timestamptz|varchar)\b|\btimestamp\s+with\s+time\s+zone\b",
     "dbt.type_string() / coachwh.type_timestamptz() / decimal(38, 0)"),
    (r"//", "integer division in a dispatched macro (coachwh.money_round_div)"),
    (r"\b(group|order)\s+by\s+all\b", "the columns by name"),
    (r"\bexclude\s*\(|\bcolumns\s*\(", "the columns by name"),
    (r"\b(read_parquet|read_csv\w*|read_json\w*)\s*\(", "a dbt source"),
]
_COMPILED = [(re.compile(pattern, re.IGNORECASE), advice) for pattern, advice in DUCKDB_ONLY]


def _blank(match: re.Match[str]) -> str:
    """The match's text with everything but newlines blanked (line numbers stay right)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def portable_code(sql: str) -> str:
    """`sql` without Jinja comments, Jinja tags and expressions, SQL comments and string literals."""
    for pattern in (r"\{#.*?#\}", r"\{\{.*?\}\}", r"\{%.*?%\}", r"--[^\n]*", r"/\*.*?\*/", r"'(?:[^']|'')*'"):
        sql = re.sub(pattern, _blank, sql, flags=re.DOTALL)
    return sql


def findings(sql: str, name: str = "<sql>") -> list[str]:
    """One line per DuckDB-only construct: `name:line: construct -> what to use instead`."""
    found = []
    for number, line in enumerate(portable_code(sql).splitlines(), start=1):
        for pattern, advice in _COMPILED:
            for match in pattern.finditer(line):
                found.append(f"{name}:{number}: `{match.group(0).strip()}` is DuckDB-only here; use {advice}")
    return found


def _project_sql_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (DBT_PROJECT_DIR / folder).rglob("*.sql"))


def test_no_model_test_or_snapshot_uses_duckdb_only_sql_outside_a_dispatched_macro():
    files = _project_sql_files()
    assert len(files) > 40  # the scan found the project's models
    problems = [f for path in files for f in findings(path.read_text(encoding="utf-8"),
                                                       str(path.relative_to(DBT_PROJECT_DIR)))]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("line", [
    "select x::date from t",
    "select * from t qualify row_number() over (partition by a order by b) = 1",
    "select epoch_ms(ts) from t",
    "select strftime(ts, '%Y-%m') from t",
    "select date_trunc('month', ts) from t",
    "select ts + interval 1 day from t",
    "select list_sort(xs) from t",
    "select struct_pack(a := 1)",
    "select regexp_matches(a, 'x') from t",
    "select json_extract_string(j, '$.a') from t",
    "select j->>'a' from t",
    "select try_cast(a as integer) from t",
    "select md5(a) from t",
    "select hash(a) from t",
    "select string_agg(a, ',') from t",
    "select last_value(a ignore nulls) over (order by b) from t",
    "select cast(a as varchar) from t",
    "select cast(a as timestamp with time zone) from t",
    "select a // 60 from t",
    "select a, count(*) from t group by all",
    "select * exclude (a) from t",
    "select * from read_parquet('x.parquet')",
    "select timezone('UTC', ts) from t",
])
def test_the_lint_flags_duckdb_only_sql(line):
    assert len(findings(line)) >= 1, line


def test_the_lint_names_the_file_and_line_and_leaves_portable_sql_alone():
    sql = (
        "{#- a comment with ::casts, qualify and json_extract( -#}\n"
        "with t as (select * from {{ ref('usage_logs') }})  -- a :: comment\n"
        "select {{ dbt.hash('attempt_id') }} as id, cast(a as decimal(18, 6)) as b, 'x::y qualify' as c,\n"
        "    {{ coachwh.utc_month('outcome_at') }} as m, coalesce(a, 0) as d\n"
        "from t\n"
        "where a::int > 0\n"
    )
    assert findings(sql, "models/example.sql") == [
        "models/example.sql:6: `::` is DuckDB-only here; use cast(x as type), with dbt.type_* for the type"
    ]
