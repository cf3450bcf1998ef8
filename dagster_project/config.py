"""Settings from the environment, resolved once: every path absolute, every default working.

dagster-dbt runs dbt with the dbt project as its working directory, so a relative DuckDB path
would point somewhere else there; `Settings.from_env()` is the one place paths are resolved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagster_project.errors import CoachwhError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"

DAGSTER_INSTANCE_YAML = """\
# Written by coachwh on first use. One run at a time: the DuckDB warehouse has a single writer.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_dir: Path
    duckdb_path: Path
    memory_limit: str
    threads: int
    grace_days: int
    vault_path: Path
    environment: str
    k_anonymity: int

    @property
    def exports_dir(self) -> Path:
        """Where access and portability packages are written, one folder per request."""
        return self.home / "exports"

    @property
    def archive_dir(self) -> Path:
        """Archives kept outside the warehouse: closed billing months in <YYYY-MM>/ (docs/archive.md)."""
        return self.home / "archive"

    @property
    def secrets_dir(self) -> Path:
        """Local secrets (the demo's pseudonym key): outside every DuckDB file, never in the warehouse."""
        return self.home / "secrets"

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("COACHWH_HOME") or "data").expanduser().resolve()
        landing = Path(os.environ.get("COACHWH_LANDING_DIR") or home / "landing").expanduser().resolve()
        duckdb_path = Path(
            os.environ.get("COACHWH_DUCKDB_PATH") or home / "coachwh.duckdb"
        ).expanduser().resolve()
        threads_text = os.environ.get("COACHWH_DUCKDB_THREADS") or str(min(os.cpu_count() or 2, 4))
        grace_text = os.environ.get("COACHWH_GRACE_DAYS") or "3"
        k_text = os.environ.get("COACHWH_K_ANONYMITY") or "5"
        try:
            threads = int(threads_text)
            grace_days = int(grace_text)
            k_anonymity = int(k_text)
        except ValueError as exc:
            raise CoachwhError(
                "COACHWH_DUCKDB_THREADS, COACHWH_GRACE_DAYS and COACHWH_K_ANONYMITY must be whole numbers; "
                "fix or unset them"
            ) from exc
        if k_anonymity < 1:
            raise CoachwhError("COACHWH_K_ANONYMITY must be 1 or more (5 by default); fix or unset it")
        # The vault is its own DuckDB file beside the warehouse: erasure rewrites that small file
        # whole, so deleted PII cannot survive in free blocks of the large one (spec §4.4).
        vault_path = Path(
            os.environ.get("COACHWH_VAULT_PATH") or duckdb_path.with_name(duckdb_path.stem + ".vault.duckdb")
        ).expanduser().resolve()
        environment = (os.environ.get("COACHWH_ENV") or "dev").strip().lower()
        return cls(
            home=home,
            landing_dir=landing,
            duckdb_path=duckdb_path,
            memory_limit=os.environ.get("COACHWH_DUCKDB_MEMORY_LIMIT") or "4GB",
            threads=threads,
            grace_days=grace_days,
            vault_path=vault_path,
            environment=environment,
            k_anonymity=k_anonymity,
        )

    def export(self) -> None:
        """Publish the resolved values so dbt's profile and child processes see the same ones."""
        os.environ["COACHWH_HOME"] = str(self.home)
        os.environ["COACHWH_LANDING_DIR"] = str(self.landing_dir)
        os.environ["COACHWH_DUCKDB_PATH"] = str(self.duckdb_path)
        os.environ["COACHWH_DUCKDB_MEMORY_LIMIT"] = self.memory_limit
        os.environ["COACHWH_DUCKDB_THREADS"] = str(self.threads)
        os.environ["COACHWH_VAULT_PATH"] = str(self.vault_path)
        # The Spark targets' lake and local Spark folders (dbt/profiles.yml), under this home.
        from dagster_project.lake import publish_spark_env

        publish_spark_env(self)
        os.environ.setdefault("DAGSTER_HOME", str(self.home / "dagster"))
        dagster_home = Path(os.environ["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True, exist_ok=True)
        instance_yaml = dagster_home / "dagster.yaml"
        if not instance_yaml.exists():
            # DuckDB has one writer per file: the instance queues runs so that one runs at a time.
            instance_yaml.write_text(DAGSTER_INSTANCE_YAML, encoding="utf-8")
