"""dbt models as Dagster assets: one `dbt build` per run, tests surfacing as asset checks."""


import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)

from dagster_project import quality
from dagster_project.asof import resolve_as_of
from dagster_project.audit.trail import record, resolve_actor
from dagster_project.config import Settings
from dagster_project.dbt_project import MANIFEST_PATH, get_dbt_project, prune_invocation_folders
from dagster_project.defs.usage.summary import (
    asset_of,
    held_assets,
    logged_row_count,
    with_headline,
    with_row_count,
)
from dagster_project.errors import CoachwhError
from dagster_project.warehouse import connection, table_exists, transaction

CLOSE_KEY = dg.AssetKey(["billing", "monthly_close"])
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# The audit tables as dbt sources -> ingestion, which writes both (it verifies platform checksums).
AUDIT_SOURCE_KEYS = {
    "audit_logs": dg.AssetKey(["audit", "audit_logs"]),
    "platform_event_checks": dg.AssetKey(["raw", "audit_events"]),
}
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
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["schema"] == "audit":
            return AUDIT_SOURCE_KEYS[dbt_resource_props["name"]]
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
    """The audit records of one dbt build.

    dbt commits model by model, so no single transaction can hold a build and its record. A
    `dbt_build_started` record commits before dbt runs and the build's own record (`dbt_build`,
    `full_refresh` or `backfill`, with counts) when it ends, so a crash mid-build leaves a started
    record without its end: the trace that something changed. Restatements found by the build
    (marts.usage_log_revisions rows with no `usage_restatement` record yet) are recorded in the same
    transaction as the build's record; a crash before it leaves them for the next build to record.
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
        with connection(settings) as conn, transaction(conn):
            record(conn, "dbt_build_started", entity_type="dbt_project", entity_id="coachwh", after=audit.after,
                   reason=audit.reason, run_id=audit.run_id, actor=audit.actor)
        return audit

    def finish(self, settings: Settings, counts: dict[str, int], outcome: str) -> None:
        with connection(settings) as conn, transaction(conn):
            record_restatements(conn, self.run_id, self.actor)
            record(conn, self.operation, entity_type="dbt_project", entity_id="coachwh", counts=counts,
                   after={**self.after, "outcome": outcome}, reason=self.reason, run_id=self.run_id,
                   actor=self.actor)


RESTATED_FIELDS = ("transcription_type", "is_billable", "billing_reason", "cost_usd", "parent_usage_log_id",
                   "plan_at_usage")


def record_restatements(conn: duckdb.DuckDBPyConnection, run_id: str | None, actor: str | None) -> int:
    """One `usage_restatement` record (old and new values, when, why) per revision not recorded yet."""
    if not table_exists(conn, "marts", "usage_log_revisions"):
        return 0
    columns = ", ".join(f"old_{f}, new_{f}" for f in RESTATED_FIELDS)
    cursor = conn.execute(
        f"""
        select revision_id, usage_log_id, usage_month, revised_at, reason, {columns}
        from marts.usage_log_revisions as r
        where not exists (select 1 from audit.audit_logs as a
                          where a.operation = 'usage_restatement' and a.entity_id = r.usage_log_id
                            and a.after_values->>'revision_id' = r.revision_id)
        order by revised_at, revision_id
        """
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        record(conn, "usage_restatement", entity_type="usage_log", entity_id=row["usage_log_id"],
               before={f: row[f"old_{f}"] for f in RESTATED_FIELDS},
               after={**{f: row[f"new_{f}"] for f in RESTATED_FIELDS}, "revision_id": row["revision_id"],
                      "usage_month": str(row["usage_month"]), "revised_at": row["revised_at"].isoformat()},
               reason=row["reason"], run_id=run_id, actor=actor)
    return len(rows)


def _with_headline(context: dg.AssetExecutionContext, settings: Settings, events: list[object],
                   manifest: Mapping[str, Any]) -> list[object]:
    """The held-back events with the headline table; unchanged if the file is busy."""
    if not events:
        return events
    try:
        with connection(settings, read_only=True) as conn:
            return with_headline(events, conn, manifest, TRANSLATOR.get_asset_key)
    except (duckdb.Error, CoachwhError) as exc:
        context.log.warning("headline left out of this run's metadata: %s", exc)
        return events


def _stream_build(invocation: DbtCliInvocation, context: dg.AssetExecutionContext, counts: dict[str, int],
                  held: list[object]) -> Iterator[object]:
    """The build's Dagster events as dbt reports them, each materialization with its row count.

    Yielding as dbt goes lets Dagster record each event while dbt works (about 800 events, ~8 ms
    each) instead of all of them after it. Events of the headline marts (and of what is built from
    them) go to `held`.
    """
    rows: dict[str, int] = {}
    held_keys = held_assets(invocation.manifest, TRANSLATOR.get_asset_key)
    for raw in invocation.stream_raw_events():
        logged = logged_row_count(raw.raw_event)
        if logged is not None:
            rows[logged[0]] = logged[1]
            continue
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest, dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context, target_path=invocation.target_path, project=invocation.project,
        ):
            if isinstance(event, (dg.Output, dg.AssetMaterialization, dg.MaterializeResult)):
                counts["models_built"] += 1
            elif isinstance(event, dg.AssetCheckResult):
                counts["checks_passed" if event.passed else "checks_failed"] += 1
            event = with_row_count(event, rows)
            if asset_of(event, invocation.manifest, TRANSLATOR.get_asset_key) in held_keys:
                held.append(event)
            else:
                yield event


def _keep_parse_state(invocation_target: Path) -> None:
    """Make this build's parse state the one the next build starts from.

    dagster-dbt gives each invocation its own target folder, seeded with dbt/target's
    partial_parse.msgpack; that file comes from whichever `dbt parse` made the manifest, often with
    another profile (another COACHWH_HOME), which makes dbt re-parse everything. After a build,
    its own state matches this deployment's profile, so the next run only re-parses what changed.
    """
    built = invocation_target / PARTIAL_PARSE_FILE
    if built.exists():
        scratch = MANIFEST_PATH.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}")
        shutil.copyfile(built, scratch)
        os.replace(scratch, MANIFEST_PATH.with_name(PARTIAL_PARSE_FILE))


def _build_dbt_assets() -> dg.AssetsDefinition:
    project = get_dbt_project()

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=TRANSLATOR,
                name="coachwh_dbt_models")
    def coachwh_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: BuildConfig):
        settings = Settings.from_env()
        settings.export()
        as_of = resolve_as_of(config.as_of)
        # Read by the macro run_as_of (dbt/macros/as_of.sql): as `--vars` it would change on every
        # run and cost dbt a full re-parse of the project each time.
        os.environ["COACHWH_AS_OF"] = as_of
        # Unit tests prove the SQL, not the data: the test suite runs them (tests/dbt builds the
        # project with them, on DuckDB and Spark); in every production run they re-proved unchanged code.
        args = ["build", "--exclude-resource-type", "unit_test"]
        if config.full_refresh:
            args.append("--full-refresh")
        # The Great Expectations check runs after the build and spends ~5 s importing GX: import
        # it now, in a thread, while this process mostly waits for dbt's own process.
        quality.warm_up()
        if not context.selected_asset_keys:
            # Checks only (the scheduled checks job): dbt runs tests and changes no data, so no record.
            checks_only = dbt.cli(args, context=context)
            yield from checks_only.stream()
            prune_invocation_folders(checks_only.target_path)
            return
        audit = BuildAudit.start(settings, context, as_of, config.full_refresh)
        counts = {"models_built": 0, "checks_passed": 0, "checks_failed": 0}
        # The headline marts' events wait until dbt exits: their headline can only be read then.
        held: list[object] = []
        try:
            invocation = dbt.cli(args, context=context)
            yield from _stream_build(invocation, context, counts, held)
        except GeneratorExit:
            audit.finish(settings, counts, "failed: GeneratorExit")
            raise
        except BaseException as exc:
            audit.finish(settings, counts, f"failed: {type(exc).__name__}")
            yield from held  # what dbt did build still shows as built
            raise
        audit.finish(settings, counts, "finished")
        _keep_parse_state(invocation.target_path)
        prune_invocation_folders(invocation.target_path)
        yield from _with_headline(context, settings, held, invocation.manifest)

    return coachwh_dbt_models


coachwh_dbt_models = _build_dbt_assets()
