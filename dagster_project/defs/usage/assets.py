"""dbt models as Dagster assets: one `dbt build` per run, tests surfacing as asset checks."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.asof import resolve_as_of
from dagster_project.audit.trail import record, resolve_actor
from dagster_project.config import Settings
from dagster_project.dbt_project import get_dbt_project
from dagster_project.warehouse import connection, transaction

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


class BuildAudit:
    """The audit records of one dbt build: one before it starts, one when it ends.

    dbt commits model by model, so no single transaction can hold a build and its record. The
    `started` record commits before dbt runs; a crash mid-build then leaves a started record with
    no `finished` one, which is itself the trace that something changed.
    """

    def __init__(self, operation: str, run_id: str, actor: str, reason: str | None, after: dict[str, Any]):
        self.operation, self.run_id, self.actor, self.reason, self.after = operation, run_id, actor, reason, after

    @classmethod
    def start(cls, settings: Settings, context: dg.AssetExecutionContext, as_of: str, full_refresh: bool
              ) -> "BuildAudit":
        tags = context.run.tags
        if full_refresh:
            operation = "full_refresh"
        elif tags.get("dagster/backfill"):
            operation = "backfill"
        else:
            operation = "dbt_build"
        audit = cls(operation, context.run_id, resolve_actor(tags), tags.get("coachwh/reason"),
                    {"as_of": as_of, "full_refresh": full_refresh})
        audit._write(settings, None, "started")
        return audit

    def finish(self, settings: Settings, counts: dict[str, int], phase: str) -> None:
        self._write(settings, counts, phase)

    def _write(self, settings: Settings, counts: dict[str, int] | None, phase: str) -> None:
        with connection(settings) as conn, transaction(conn):
            record(conn, self.operation, entity_type="dbt_project", entity_id="coachwh", counts=counts,
                   after={**self.after, "phase": phase}, reason=self.reason, run_id=self.run_id, actor=self.actor)


def _build_dbt_assets() -> dg.AssetsDefinition:
    project = get_dbt_project()

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=TRANSLATOR,
                name="coachwh_dbt_models")
    def coachwh_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: BuildConfig):
        settings = Settings.from_env()
        settings.export()
        dbt_vars = {"as_of": resolve_as_of(config.as_of)}
        args = ["build", "--vars", json.dumps(dbt_vars)]
        if config.full_refresh:
            args.append("--full-refresh")
        audit = BuildAudit.start(settings, context, dbt_vars["as_of"], config.full_refresh)
        counts = {"models_built": 0, "checks_passed": 0, "checks_failed": 0}
        try:
            for event in dbt.cli(args, context=context).stream():
                if isinstance(event, (dg.Output, dg.AssetMaterialization, dg.MaterializeResult)):
                    counts["models_built"] += 1
                elif isinstance(event, dg.AssetCheckResult):
                    counts["checks_passed" if event.passed else "checks_failed"] += 1
                yield event
        except BaseException as exc:
            audit.finish(settings, counts, f"failed: {type(exc).__name__}")
            raise
        audit.finish(settings, counts, "finished")

    return coachwh_dbt_models


coachwh_dbt_models = _build_dbt_assets()
