"""The one DbtProject of coachwh, and how to make sure its manifest exists.

dagster-dbt reads `dbt/target/manifest.json` when the definitions are imported, so every entry
point (CLI, tests, CI) calls `ensure_manifest()` first; `dagster dev` also re-parses through
`prepare_if_dev()`.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.errors import CoachwhError

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_target() -> str:
    return os.environ.get("COACHWH_DBT_TARGET") or "duckdb"


def dbt_executable() -> str:
    """The dbt installed beside this Python (the venv need not be on PATH), else `dbt` on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def _newest_source_mtime() -> float:
    newest = 0.0
    for sub in ("models", "macros", "seeds", "tests", "snapshots", "analyses"):
        folder = DBT_PROJECT_DIR / sub
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file():
                    newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        path = DBT_PROJECT_DIR / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> Path:
    """Run `dbt parse` when the manifest is missing or older than the dbt project's files."""
    if not force and MANIFEST_PATH.exists() and MANIFEST_PATH.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST_PATH
    Settings.from_env().export()
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target", dbt_target(), "--quiet"]
    )
    if not result.success:
        raise CoachwhError(f"`dbt parse` failed ({result.exception}); run it in dbt/ to see why")
    return MANIFEST_PATH


@cache
def get_dbt_project():
    from dagster_dbt import DbtProject

    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target=dbt_target(),
    )
    project.prepare_if_dev()
    return project
