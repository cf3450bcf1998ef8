"""Shared fixtures: an isolated COACHWH_HOME per test, and helpers to write landing files."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.config import Settings
from dagster_project.warehouse import open_connection


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Settings.export() publishes env vars for dbt; undo that after every test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh COACHWH_HOME with an empty landing directory; every other env var unset."""
    for var in ("COACHWH_LANDING_DIR", "COACHWH_DUCKDB_PATH", "DAGSTER_HOME", "COACHWH_ACTOR", "COACHWH_VAULT_PATH",
                "COACHWH_PSEUDONYM_KEY", "COACHWH_ENV", "COACHWH_K_ANONYMITY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COACHWH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COACHWH_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("COACHWH_DUCKDB_THREADS", "2")
    (tmp_path / "home" / "landing").mkdir(parents=True)
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture
def conn(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_connection(settings)
    yield connection
    connection.close()


def write_jsonl(landing: Path, stream: str, name: str, records: list[dict | str], gz: bool = False) -> Path:
    """Write records (dicts as JSON, strings verbatim) one per line to landing/<stream>/<name>."""
    folder = landing / stream
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    path = folder / name
    if gz:
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def event(event_id: str, event_type: str = "transcription_completed", **overrides: object) -> dict:
    """A valid transcription event; overrides replace or (with value None) remove fields."""
    record: dict[str, object] = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": "2026-09-01T10:00:00+00:00",
        "attempt_id": f"att_{event_id}",
        "session_id": "ses_1",
        "user_id": "usr_1",
        "client_id": "cli_1",
        "stt_provider": "google",
        "language": "en-US",
    }
    if event_type == "transcription_completed":
        record["duration_seconds"] = 90
    if event_type == "transcription_failed":
        record["error_code"] = "provider_timeout"
    for key, value in overrides.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record
