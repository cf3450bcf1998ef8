"""`config_change` records: the settings and reference files a run works with, whenever they change.

The configuration that decides what the warehouse computes (grace period, k-anonymity, contract
versions, the dbt seeds of rates, plans and retention policies) is compared at the start of every
run with the one the last `config_change` record holds; a difference is recorded with both versions.
Secrets are never recorded: the pseudonym key appears only as its fingerprint's presence.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import duckdb

from dagster_project.audit.trail import ensure_audit_table, record
from dagster_project.config import DBT_PROJECT_DIR, Settings
from dagster_project.contracts import load_contracts

SEEDS = ("stt_rates", "plans", "data_retention_policies")


def current_config(settings: Settings) -> dict[str, Any]:
    seeds = {}
    for name in SEEDS:
        path = DBT_PROJECT_DIR / "seeds" / f"{name}.csv"
        seeds[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else None
    return {
        "grace_days": settings.grace_days,
        "k_anonymity": settings.k_anonymity,
        "environment": settings.environment,
        "contracts": {stream: c.version for stream, c in sorted(load_contracts().items())},
        "seeds_sha256": seeds,
    }


def record_config_change(
    conn: duckdb.DuckDBPyConnection, settings: Settings, run_id: str | None = None, actor: str | None = None
) -> bool:
    """Record the configuration if it differs from the last recorded one; True when it did."""
    now = current_config(settings)
    ensure_audit_table(conn)
    last = conn.execute(
        "select after_values from audit.audit_logs where operation = 'config_change' "
        "order by sequence_number desc limit 1"
    ).fetchall()
    before = json.loads(last[0][0]) if last else None
    if before == json.loads(json.dumps(now)):
        return False
    changed = sorted(k for k in now if (before or {}).get(k) != now[k])
    record(conn, "config_change", entity_type="configuration", entity_id="coachwh", before=before, after=now,
           counts={"settings_changed": len(changed)}, reason="changed: " + ", ".join(changed), run_id=run_id,
           actor=actor)
    return True
