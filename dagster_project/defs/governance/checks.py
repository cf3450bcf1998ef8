"""Checks that prove the governance rules hold: PII only in the vault, erasures complete, requests on time."""


import dagster as dg

from dagster_project.defs.ingestion.assets import VAULT_KEY
from dagster_project.governance.pii_scan import scan_for_pii
from dagster_project.resources import WarehouseResource

GDPR_ERASURE_KEY = dg.AssetKey(["governance", "gdpr_erasure"])
# Checked after the exports step: by then this run has processed every request it could.
GDPR_EXPORTS_KEY = dg.AssetKey(["governance", "gdpr_exports"])


@dg.asset_check(asset=VAULT_KEY, blocking=True, description=(
    "No PII outside the vault: no column of any table or view is named like a pii/sensitive field of a "
    "data contract, and no value of the vault appears in a text column of any warehouse table. "
    "Severity ERROR."
))
def no_pii_outside_the_vault(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        findings = scan_for_pii(conn)
    # Only where PII was found is reported, never the values themselves.
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "findings": len(findings),
            "where": dg.MetadataValue.json([f"{f.table}.{f.column} ({f.kind}, {f.rows} rows)" for f in findings[:20]]),
        },
    )


@dg.asset_check(asset=GDPR_ERASURE_KEY, blocking=True, description=(
    "Every erased subject has zero vault rows (PII and extra fields) and no quarantined text that names "
    "it, and no earlier export package of it is left under COACHWH_HOME/exports. Severity ERROR."
))
def erasures_are_complete(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    settings = warehouse.settings()
    with warehouse.connect() as conn:
        leftovers = conn.execute(
            """
            select e.subject_type, e.subject_id,
                   (select count(*) from vault.pii as v
                    where v.subject_type = e.subject_type and v.subject_id = e.subject_id) as vault_rows,
                   (select count(*) from vault.extra_fields as v
                    where v.subject_type = e.subject_type and v.subject_id = e.subject_id) as extra_rows,
                   (select count(*) from vault.quarantine_text as v
                    where contains(v.raw_text, e.subject_id)) as quarantine_texts
            from governance.erasures as e
            """
        ).fetchall()
        exports = conn.execute(
            """
            select s.request_id from governance.gdpr_request_status as s
            join governance.erasures as e using (subject_type, subject_id)
            where s.request_type in ('access', 'portability') and s.completed_at <= e.erased_at
            """
        ).fetchall()
    incomplete = [row for row in leftovers if any(row[2:])]
    stale_exports = [rid for (rid,) in exports if (settings.exports_dir / rid).exists()]
    return dg.AssetCheckResult(
        passed=not incomplete and not stale_exports,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "erased_subjects": len(leftovers),
            "incomplete_erasures": len(incomplete),
            "exports_left_of_erased_subjects": len(stale_exports),
        },
    )


@dg.asset_check(asset=GDPR_EXPORTS_KEY, description=(
    "Fails while any data-subject request is open past its 30-day due date (GDPR Art. 12(3)); lists them "
    "(marts.gdpr_requests). Severity WARN: the run's data is fine, the privacy officer must act."
))
def no_overdue_gdpr_requests(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select request_id, request_type, status, due_at from marts.gdpr_requests where is_overdue "
            "order by due_at"
        ).fetchall()
        total = conn.execute("select count(*) from marts.gdpr_requests").fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "requests": total,
            "overdue": len(rows),
            "overdue_requests": dg.MetadataValue.json([f"{r[0]} {r[1]} {r[2]} due {r[3]}" for r in rows[:20]]),
        },
    )
