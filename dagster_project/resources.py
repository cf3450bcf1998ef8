"""Dagster resources, configured from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from dagster_project.config import Settings
from dagster_project.warehouse import open_connection


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse named by COACHWH_DUCKDB_PATH (default COACHWH_HOME/coachwh.duckdb).

    Connections come from `warehouse.open_connection`, which applies the memory limit, thread
    count and UTC time zone, and turns a held write lock into a clear message.
    """

    def settings(self) -> Settings:
        return Settings.from_env()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = open_connection(self.settings(), read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()
