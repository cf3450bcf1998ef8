"""The governance tables of the warehouse file: state that governance operations write.

They hold ids only, never PII (PII is in the vault). dbt reads them as sources (`governance.*`)
for marts.gdpr_requests, marts.retention_runs and the dimensions' lifecycle status.
"""

from __future__ import annotations

import duckdb

GOVERNANCE_DDL = (
    "create schema if not exists governance",
    # One row per data-subject request that processing has touched; its history is in the audit trail.
    # status: completed | failed (a request with no row here is pending). outcome: erased | exported |
    # no_data_held. A failed request is retried on every run until it completes.
    """create table if not exists governance.gdpr_request_status (
        request_id VARCHAR NOT NULL,
        request_type VARCHAR NOT NULL,
        subject_type VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        outcome VARCHAR,
        attempts INTEGER NOT NULL,
        last_error VARCHAR,
        first_attempt_at TIMESTAMPTZ NOT NULL,
        last_attempt_at TIMESTAMPTZ NOT NULL,
        completed_at TIMESTAMPTZ,
        export_path VARCHAR,
        vault_rows_erased BIGINT
    )""",
    # One row per subject whose PII was erased (by a request or by retention); never deleted.
    """create table if not exists governance.erasures (
        subject_type VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        erased_at TIMESTAMPTZ NOT NULL,
        request_id VARCHAR,
        erasure_trigger VARCHAR NOT NULL,
        vault_rows_deleted BIGINT NOT NULL,
        quarantine_texts_deleted BIGINT NOT NULL,
        exports_deleted BIGINT NOT NULL
    )""",
    # One row per retention policy per retention run (dry runs included, flagged).
    """create table if not exists governance.retention_runs (
        retention_run_id VARCHAR NOT NULL,
        run_at TIMESTAMPTZ NOT NULL,
        as_of TIMESTAMPTZ NOT NULL,
        is_dry_run BOOLEAN NOT NULL,
        data_category VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        retention_days INTEGER,
        grace_days INTEGER NOT NULL,
        evaluated BIGINT NOT NULL,
        acted_on BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        status VARCHAR NOT NULL,
        detail VARCHAR
    )""",
    # Raw rows removed by retention, per landing file: the reconciliation check adds them back
    # (read = loaded + duplicates + quarantined still holds after a purge).
    """create table if not exists governance.retention_purged_rows (
        stream VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL,
        rows_purged BIGINT NOT NULL,
        purged_at TIMESTAMPTZ NOT NULL,
        retention_run_id VARCHAR NOT NULL
    )""",
    # Pseudonym of every id the anonymized views expose; the key is never stored, only its
    # fingerprint, so a changed key is noticed and the map rebuilt.
    """create table if not exists governance.pseudonyms (
        id_kind VARCHAR NOT NULL,
        id_value VARCHAR NOT NULL,
        pseudonym VARCHAR NOT NULL,
        key_fingerprint VARCHAR NOT NULL
    )""",
    # How far the map has read each mart stamped with computed_at, under which key: a refresh
    # hashes only the ids of rows computed since (at 10M events, usage_logs' ids took ~4 s).
    """create table if not exists governance.pseudonym_watermarks (
        mart VARCHAR NOT NULL,
        computed_through TIMESTAMPTZ NOT NULL,
        key_fingerprint VARCHAR NOT NULL
    )""",
)


def ensure_governance_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for ddl in GOVERNANCE_DDL:
        conn.execute(ddl)
