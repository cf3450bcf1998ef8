"""The dbt CLI resource of coachwh: dagster-dbt's, without two costs paid before every build.

Before it starts `dbt build`, dagster-dbt's `DbtCliResource.cli()`:
- runs `dbt --version` in a subprocess to learn the dbt version (~2.7 s here: a whole dbt start-up);
- loads the dbt adapter inside the Dagster process (~1.4 s), which it needs only for
  `fetch_row_counts()` and column metadata. In coachwh, dbt logs each node's row count itself
  (dbt/macros/row_counts.sql, read in defs/usage/summary.py): DuckDB's single writer forbids
  reading from another connection while dbt runs.

Both are skipped when the dbt executable is the one installed beside this Python, whose version is
the installed dbt-core package's. With any other dbt (on PATH), dagster-dbt's own behaviour stays.
"""

from __future__ import annotations

import sys
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version


def _is_bundled(executable: str) -> bool:
    return Path(executable).parent == Path(sys.executable).parent


class CoachwhDbtCliResource(DbtCliResource):
    """`DbtCliResource` whose version comes from the installed package and that loads no adapter."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if _is_bundled(self.dbt_executable):
            return version.parse(installed_version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        # None is dagster-dbt's own "no adapter" value (the Fusion engine path): row counts and
        # column metadata are then simply not fetched, which coachwh never asks it to do.
        if _is_bundled(self.dbt_executable):
            return None
        return super()._initialize_dbt_core_adapter(args)
