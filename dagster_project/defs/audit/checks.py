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
