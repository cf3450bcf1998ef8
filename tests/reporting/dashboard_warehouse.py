"""One small simulated warehouse for the dashboard tests, built once per test process by the real commands.

`coachwh run` (whose build job materializes reporting/admin_dashboard), `coachwh retention` and
`coachwh report` run as subprocesses against a temporary COACHWH_HOME, as a user runs them. The
data test and the browser test share it, so the build (about a minute) happens once.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dagster_project.config import Settings
from dagster_project.simulator import generate

AS_OF = "2026-11-05T00:00:00Z"
# The warehouse's own variables are dropped so that the temporary home decides every path.
CLEARED = ("COACHWH_LANDING_DIR", "COACHWH_DUCKDB_PATH", "DAGSTER_HOME", "COACHWH_VAULT_PATH",
           "COACHWH_PSEUDONYM_KEY", "COACHWH_ENV", "COACHWH_K_ANONYMITY", "COACHWH_ACTOR")


@dataclass(frozen=True)
class DashboardWarehouse:
    home: Path
    env: dict[str, str]
    run: subprocess.CompletedProcess
    retention: subprocess.CompletedProcess
    report: subprocess.CompletedProcess

    @property
    def html(self) -> Path:
        """The page `coachwh report` wrote last (after the closes and the retention run)."""
        return self.home / "reports" / "admin_dashboard.html"

    @property
    def asset_html(self) -> Path:
        """The page the build job's asset wrote."""
        return self.home / "reports" / "asset_dashboard.html"

    def settings(self) -> Settings:
        """Settings of this home, without touching os.environ."""
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return Settings.from_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)


def coachwh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], env=env, capture_output=True,
                          text=True, timeout=900)


@cache
def dashboard_warehouse() -> DashboardWarehouse:
    root = Path(tempfile.mkdtemp(prefix="coachwh-dashboard-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"COACHWH_HOME": str(home), "COACHWH_DUCKDB_MEMORY_LIMIT": "2GB", "COACHWH_DUCKDB_THREADS": "2"})
    # Three months: September and October close as of AS_OF, November stays open.
    generate(home / "landing", seed=5, coaches=12, months=3, events_per_month=1200)
    run = coachwh(env, "run", "--as-of", AS_OF)
    # The page the build's asset wrote (before the close and `coachwh report` rewrite it).
    built = home / "reports" / "admin_dashboard.html"
    if built.exists():
        shutil.copyfile(built, home / "reports" / "asset_dashboard.html")
    retention = coachwh(env, "retention", "--as-of", AS_OF)
    report = coachwh(env, "report")
    return DashboardWarehouse(home=home, env=env, run=run, retention=retention, report=report)
