"""dbt models as Dagster assets: one `dbt build` per run, tests surfacing as asset checks."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.asof import resolve_as_of
from dagster_project.config import Settings
from dagster_project.dbt_project import get_dbt_project

CLOSE_KEY = dg.AssetKey(["billing", "monthly_close"])
# Governance tables as dbt sources -> the Python assets that write them.
GOVERNANCE_SOURCE_KEYS = {
    "erasures": dg.AssetKey(["governance", "gdpr_erasure"]),
    "gdpr_request_status": dg.AssetKey(["governance", "gdpr_erasure"]),
    "retention_runs": dg.AssetKey(["governance", "retention_enforcement"]),
}


class CoachwhDbtTranslator(DagsterDbtTranslator):
    """Asset keys are <schema>/<name> (sources: raw/<table>, the keys ingestion materializes);
    groups come from a model's `meta.dagster.group`, else its folder's domain."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["schema"] == "billing":
            # The billing.closed_* tables are all written by the monthly close.
            return CLOSE_KEY
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["schema"] == "governance":
            return GOVERNANCE_SOURCE_KEYS[dbt_resource_props["name"]]
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        meta = dbt_resource_props.get("meta") or dbt_resource_props.get("config", {}).get("meta") or {}
        return (meta.get("dagster") or {}).get("group") or "usage"


TRANSLATOR = CoachwhDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True, enable_duplicate_source_asset_keys=True)
)


class BuildConfig(dg.Config):
    """Run configuration of the dbt build."""

    as_of: str = ""
    """The instant the run acts as of (ISO-8601 with offset); empty means now."""
    full_refresh: bool = False
    """Rebuild incremental models from raw. Permanent models (usage_logs) are never dropped."""


def _build_dbt_assets() -> dg.AssetsDefinition:
    project = get_dbt_project()

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=TRANSLATOR,
                name="coachwh_dbt_models")
    def coachwh_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: BuildConfig):
        Settings.from_env().export()
        dbt_vars = {"as_of": resolve_as_of(config.as_of)}
        args = ["build", "--vars", json.dumps(dbt_vars)]
        if config.full_refresh:
            args.append("--full-refresh")
        yield from dbt.cli(args, context=context).stream()

    return coachwh_dbt_models


coachwh_dbt_models = _build_dbt_assets()
