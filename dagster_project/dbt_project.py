"""The one DbtProject of coachwh, and how to make sure its manifest exists.

dagster-dbt reads `dbt/target/manifest.json` when the definitions are imported, so every entry
point goes through `get_dbt_project()`, which calls `ensure_manifest()` first; `dagster dev` also
re-parses through `prepare_if_dev()`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
from functools import cache
from pathlib import Path

from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.errors import CoachwhError

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_target() -> str:
    return os.environ.get("COACHWH_DBT_TARGET") or "duckdb"


def dbt_executable() -> str:
    """The dbt installed beside this Python (the venv need not be on PATH), else `dbt` on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")):
        candidate = Path(folder) / "dbt"
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


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


def _manifest_adapter() -> str | None:
    """The adapter the manifest was parsed for (its metadata comes first in the file)."""
    with MANIFEST_PATH.open(encoding="utf-8", errors="ignore") as handle:
        match = re.search(r'"adapter_type":\s*"(\w+)"', handle.read(8192))
    return match[1] if match else None


def ensure_manifest(force: bool = False) -> Path:
    """Run `dbt parse` when the manifest is missing, older than the dbt project's files, or parsed
    for another engine (COACHWH_DBT_TARGET switched between duckdb and spark: the Spark targets
    disable the snapshot on Parquet, docs/scale_out.md)."""
    adapter = "spark" if dbt_target().startswith("spark") else "duckdb"
    if (not force and MANIFEST_PATH.exists() and MANIFEST_PATH.stat().st_mtime >= _newest_source_mtime()
            and _manifest_adapter() == adapter):
        return MANIFEST_PATH
    from dbt.cli.main import dbtRunner

    # profiles.yml reads the warehouse path from env vars; publish them for the parse only, so
    # importing the definitions (which lands here on a clean checkout) leaves the environment as it was.
    saved = dict(os.environ)
    try:
        Settings.from_env().export()
        result = dbtRunner().invoke(
            ["parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target", dbt_target(), "--quiet"]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not result.success:
        raise CoachwhError(f"`dbt parse` failed ({result.exception}); run it in dbt/ to see why")
    return MANIFEST_PATH


@cache
def get_dbt_project():
    from dagster_dbt import DbtProject

    # dagster-dbt reads the manifest as soon as the assets are defined: on a clean checkout (CI, a
    # test importing one asset module) nothing has parsed the project yet.
    ensure_manifest()

    # Under `dagster dev`, prepare_if_dev() runs `dbt parse` by name: make sure the dbt installed
    # beside this Python is the one found, even when the virtualenv is not activated.
    dbt_dir = str(Path(dbt_executable()).parent)
    if shutil.which("dbt") is None and dbt_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = dbt_dir + os.pathsep + os.environ.get("PATH", "")
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target=dbt_target(),
    )
    project.prepare_if_dev()
    return project


KEPT_INVOCATION_FOLDERS = 20


def prune_invocation_folders(current: Path, keep: int = KEPT_INVOCATION_FOLDERS) -> int:
    """Delete all but the newest `keep` target folders of an asset's dbt invocations; return how many.

    Why: dagster-dbt gives every invocation its own folder under dbt/target (`<op>-<run>-<uuid>`:
    dbt.log, manifest, parse state, compiled SQL; ~15 MB at 10M events), so a daily schedule would
    grow dbt/target without bound. `current` (the invocation that just ran) is always kept.
    """
    prefix = current.name.split("-", 1)[0]
    older = sorted(
        (p for p in current.parent.glob(f"{prefix}-*") if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    stale = older[max(keep - 1, 0):]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)

