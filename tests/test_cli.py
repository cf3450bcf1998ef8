"""Errors a user can cause read as one line that says what to do, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _coachwh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_missing_landing_directory_is_one_line_that_says_what_to_do(home: Path):
    env = {**os.environ, "COACHWH_LANDING_DIR": str(home / "nowhere")}
    result = _coachwh("run", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "landing directory" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_landing_path_that_is_a_file_is_a_clear_error(home: Path):
    (home / "file.txt").write_text("x")
    env = {**os.environ, "COACHWH_LANDING_DIR": str(home / "file.txt")}
    result = _coachwh("run", env=env)
    assert result.returncode == 2
    assert "is not a directory" in result.stderr


def test_a_bad_number_in_an_env_var_is_a_clear_error(home: Path):
    env = {**os.environ, "COACHWH_DUCKDB_THREADS": "lots"}
    result = _coachwh("run", env=env)
    assert result.returncode == 2
    assert "COACHWH_DUCKDB_THREADS" in result.stderr and "Traceback" not in result.stderr


def test_an_as_of_without_offset_is_refused(home: Path):
    result = _coachwh("run", "--as-of", "2026-11-29T00:00:00", env=dict(os.environ))
    assert result.returncode == 2
    assert "no UTC offset" in result.stderr


def test_sql_on_a_missing_warehouse_says_how_to_build_it(home: Path):
    result = _coachwh("sql", "select 1", env=dict(os.environ))
    assert result.returncode == 2
    assert "coachwh run" in result.stderr


def test_a_bad_query_is_one_line(home: Path, conn):
    conn.close()
    result = _coachwh("sql", "select * from no_such_table", env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.startswith("coachwh: error: query failed:")
    assert result.stderr.count("\n") == 1


def test_closing_a_month_before_its_grace_period_is_refused_in_one_line(home: Path):
    result = _coachwh("billing", "close", "--month", "2026-11", "--as-of", "2026-12-02T00:00:00Z", env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr == (
        "coachwh: error: 2026-11 cannot be closed before 2026-12-04T00:00:00+00:00 (its end plus 3 days' grace); "
        "as of 2026-12-02T00:00:00+00:00 it is still open\n"
    )


def test_a_malformed_month_is_refused_in_one_line(home: Path):
    result = _coachwh("billing", "close", "--month", "October", env=dict(os.environ))
    assert result.returncode == 2
    assert "is not YYYY-MM" in result.stderr and "Traceback" not in result.stderr
