"""The governance checks fail when their rule is broken, and pass when it holds."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.governance.checks import no_overdue_gdpr_requests, no_pii_outside_the_vault
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import connection, ensure_schema


def _overdue_mart(settings, overdue: bool) -> None:
    with connection(settings) as conn:
        ensure_schema(conn)
        conn.execute("create schema if not exists marts")
        conn.execute(
            "create or replace table marts.gdpr_requests as select 'dsr_1' as request_id, 'access' as request_type, "
            "'pending' as status, timestamptz '2026-01-31 00:00:00+00' as due_at, ? as is_overdue",
            [overdue],
        )


def test_the_overdue_check_fails_while_a_request_is_overdue_and_passes_once_none_is(settings):
    _overdue_mart(settings, overdue=True)
    result = no_overdue_gdpr_requests(dg.build_asset_check_context(), warehouse=WarehouseResource())
    assert not result.passed and result.metadata["overdue"].value == 1
    _overdue_mart(settings, overdue=False)
    assert no_overdue_gdpr_requests(dg.build_asset_check_context(), warehouse=WarehouseResource()).passed


def test_the_pii_scan_finds_a_vault_value_copied_into_a_warehouse_table(settings):
    with connection(settings) as conn:
        ensure_schema(conn)
        conn.execute("insert into vault.pii values ('client', 'cli_1', 'email', 'lea.vault@example.org', 'pii', "
                     "'clients', 'ch1', 'clients/c1.jsonl', null, 1, current_timestamp)")
        # Written outside dbt (dbt cannot read the vault, so a leak starts in such a table).
        conn.execute("create table governance.leaky as select 'lea.vault@example.org' as contact")
    result = no_pii_outside_the_vault(dg.build_asset_check_context(), warehouse=WarehouseResource())
    assert not result.passed and result.metadata["findings"].value == 1
    with connection(settings) as conn:
        conn.execute("drop table governance.leaky")
    assert no_pii_outside_the_vault(dg.build_asset_check_context(), warehouse=WarehouseResource()).passed


def test_the_pii_scan_finds_a_column_named_like_a_pii_field_in_any_schema(settings):
    with connection(settings) as conn:
        ensure_schema(conn)
        conn.execute("create schema if not exists marts")
        conn.execute("create view marts.contacts as select 'x' as client_id, 'someone' as email")
    result = no_pii_outside_the_vault(dg.build_asset_check_context(), warehouse=WarehouseResource())
    assert not result.passed and "marts.contacts.email (protected_column" in str(result.metadata["where"].value)
