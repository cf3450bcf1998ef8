"""Checks that billing adds up and that closed statements were not altered."""

import dagster as dg

from dagster_project.billing.close import verify_closed_digests
from dagster_project.defs.billing.assets import STATEMENTS_KEY
from dagster_project.resources import WarehouseResource


@dg.asset_check(asset=STATEMENTS_KEY, blocking=True, description=(
    "For every user: the sum over months of usage_charges_usd + adjustments_usd equals the sum of "
    "cost_usd over their current usage logs (nothing is lost or billed twice across closes). "
    "Severity ERROR."
))
def every_user_reconciles_with_usage_logs(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        rows = conn.execute(
            """
            with billed as (
                select user_id, sum(usage_charges_usd + adjustments_usd) as billed_usd
                from marts.billing_statements group by all
            ),
            -- adjustments still pending in the first open month are part of what will be billed
            logs as (select user_id, sum(cost_usd) as cost_usd from marts.usage_logs group by all)
            select coalesce(logs.user_id, billed.user_id), coalesce(billed.billed_usd, 0), coalesce(logs.cost_usd, 0)
            from logs full join billed using (user_id)
            where coalesce(billed.billed_usd, 0) <> coalesce(logs.cost_usd, 0)
            order by 1
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"users_not_reconciling": len(rows), "examples": dg.MetadataValue.text(repr(rows[:5]))},
    )


@dg.asset_check(asset=STATEMENTS_KEY, blocking=True, description=(
    "Every closed statement's digest still verifies against its fields and the usage logs it "
    "covers. Severity ERROR: a failure means a closed statement was altered."
))
def closed_statement_digests_verify(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        broken = verify_closed_digests(conn)
        closed = conn.execute("select count(*) from billing.closed_statements").fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=not broken,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"closed_statements": closed, "not_verifying": len(broken),
                  "examples": dg.MetadataValue.text(repr(broken[:5]))},
    )
