"""The chain check passes on an untouched trail and fails, blocking, on a tampered one."""

from __future__ import annotations

import dagster as dg

from dagster_project.audit.trail import record
from dagster_project.defs.audit.checks import audit_chain_verifies
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import connection, transaction


def test_the_chain_check_passes_untouched_and_fails_once_a_record_is_edited(settings):
    with connection(settings) as conn, transaction(conn):
        record(conn, "dbt_build", counts={"models_built": 3})
        record(conn, "billing_close", entity_id="2026-10")
    result = audit_chain_verifies(dg.build_asset_check_context(), warehouse=WarehouseResource())
    assert result.passed and result.metadata["records"].value == 2
    with connection(settings) as conn:
        conn.execute("update audit.audit_logs set entity_id = '2026-09' where operation = 'billing_close'")
    result = audit_chain_verifies(dg.build_asset_check_context(), warehouse=WarehouseResource())
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert "BROKEN at sequence 2" in result.metadata["result"].value
