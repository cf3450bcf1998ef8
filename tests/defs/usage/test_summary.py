"""The dbt build's events in the Dagster UI: row counts logged by dbt, the headline marts held back."""

from __future__ import annotations

import json

import dagster as dg

from dagster_project.dbt_project import ensure_manifest
from dagster_project.defs.usage.summary import held_assets, logged_row_count, with_row_count


def _log(message: str, unique_id: str | None = "model.coachwh.usage_logs", name: str = "JinjaLogInfo") -> dict:
    node_info = {"unique_id": unique_id} if unique_id else {}
    return {"info": {"name": name, "msg": message}, "data": {"node_info": node_info}}


def test_a_row_count_logged_by_the_post_hook_is_read_and_other_logs_are_not():
    assert logged_row_count(_log("coachwh_row_count 4625109")) == ("model.coachwh.usage_logs", 4625109)
    assert logged_row_count(_log("coachwh_row_count many")) is None
    assert logged_row_count(_log("some other message")) is None
    assert logged_row_count(_log("coachwh_row_count 3", name="LogModelResult")) is None
    assert logged_row_count(_log("coachwh_row_count 3", unique_id=None)) is None


def test_a_materialization_gets_its_row_count_and_a_check_result_is_left_as_it_is():
    output = dg.Output(None, output_name="usage_logs", metadata={"unique_id": "model.coachwh.usage_logs"})
    counted = with_row_count(output, {"model.coachwh.usage_logs": 12})
    assert counted.metadata["dagster/row_count"].value == 12
    assert with_row_count(output, {}) is output
    check = dg.AssetCheckResult(asset_key=dg.AssetKey(["marts", "usage_logs"]), check_name="c", passed=True)
    assert with_row_count(check, {"model.coachwh.usage_logs": 12}) is check


def test_the_headline_marts_are_held_back_with_everything_built_from_them_and_nothing_else():
    manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    from dagster_project.defs.usage.assets import TRANSLATOR  # builds the dbt assets: after the parse

    held = {"/".join(key.path) for key in held_assets(manifest, TRANSLATOR.get_asset_key)}
    assert {"marts/usage_analytics", "marts/billing_statements", "marts/billing_analytics_monthly"} <= held
    assert "marts/usage_logs" not in held and "intermediate/int_transcription_attempts" not in held
