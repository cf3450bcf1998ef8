"""Landing zone -> raw tables, quarantine, PII vault and the file ledger."""

from dagster_project.ingestion.loader import FileResult, IngestionReport, ingest_landing

__all__ = ["FileResult", "IngestionReport", "ingest_landing"]
