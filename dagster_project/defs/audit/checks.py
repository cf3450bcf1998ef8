"""The audit trail's hash chain verifies on every run (spec §5)."""


import dagster as dg

from dagster_project.audit.trail import verify
from dagster_project.defs.ingestion.assets import AUDIT_KEY
from dagster_project.resources import WarehouseResource


@dg.asset_check(asset=AUDIT_KEY, blocking=True, description=(
    "Walks audit.audit_logs from the first record: contiguous sequence numbers, each prev_hash equal to the "
    "previous record_hash, each record_hash equal to the SHA-256 of its fields. An edited, deleted or reordered "
    "record fails it. Severity ERROR, blocking."
))
def audit_chain_verifies(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        status = verify(conn)
    return dg.AssetCheckResult(
        passed=status.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "records": status.count,
            "head_hash": dg.MetadataValue.text(status.head_hash),
            "result": dg.MetadataValue.text(status.summary()),
        },
    )


@dg.asset_check(asset=dg.AssetKey(["raw", "audit_events"]), description=(
    "Counts the platform's audit events whose recomputed checksum (spec §2.4) differs from the one delivered: "
    "such events are kept and flagged (checksum_valid = false in marts.platform_audit_events), and this check "
    "fails while any exists. Severity WARN: the platform's log was altered, the warehouse's data is intact."
))
def platform_audit_checksums_valid(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        checked, invalid = conn.execute(
            "select count(*), count(*) filter (where not checksum_valid) from audit.platform_event_checks"
        ).fetchall()[0]
        loaded = conn.execute("select count(*) from raw.audit_events").fetchall()[0][0]
        examples = conn.execute(
            "select event_id from audit.platform_event_checks where not checksum_valid order by event_id limit 10"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=invalid == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "events_checked": checked,
            "events_loaded": loaded,
            "checksum_mismatches": invalid,
            "first_mismatching_events": dg.MetadataValue.json([e for (e,) in examples]),
        },
    )
