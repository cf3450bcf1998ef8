"""The asset that refreshes schema `anonymized`: pseudonymized views and k-anonymous aggregates of the marts."""


import json

import dagster as dg

from dagster_project.audit.trail import resolve_actor
from dagster_project.dbt_project import MANIFEST_PATH
from dagster_project.governance.anonymized import MARTS_SCHEMA, SOURCE_MARTS, build_anonymized
from dagster_project.resources import WarehouseResource

ANONYMIZED_VIEWS_KEY = dg.AssetKey(["governance", "anonymized_views"])
# Always dbt models; the dimensions are added when the dbt project has them.
CORE_MARTS = ("usage_logs", "usage_analytics", "billing_statements")


def mart_deps() -> list[dg.AssetKey]:
    """The marts this asset reads that the dbt project defines.

    A dep on a key nothing defines would show as a never-materialized external asset, so the
    dimensions are listed only once their dbt models exist (read from dbt's manifest).
    """
    names = set(CORE_MARTS)
    try:
        manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") == "model" and node.get("schema") == MARTS_SCHEMA and node.get("name") in SOURCE_MARTS:
            names.add(node["name"])
    return [dg.AssetKey([MARTS_SCHEMA, name]) for name in SOURCE_MARTS if name in names]


@dg.asset(
    key=ANONYMIZED_VIEWS_KEY,
    deps=mart_deps(),
    group_name="governance",
    kinds={"duckdb"},
    description=(
        "Schema `anonymized` for analysts: the usage logs, usage analytics, statements and dimensions with "
        "keyed HMAC-SHA256 pseudonyms (secret COACHWH_PSEUDONYM_KEY, never stored) in place of every id and "
        "no PII, plus aggregates that leave out groups of fewer than k distinct users (COACHWH_K_ANONYMITY, "
        "5 by default). Fails, building nothing, when COACHWH_ENV=prod and the key is not set."
    ),
)
def anonymized_views(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    with warehouse.connect() as conn:
        # A missing key in production raises CoachwhError here: the run fails with its message.
        report = build_anonymized(settings, conn, run_id=context.run_id, actor=resolve_actor(context.run.tags))
    context.log.info(
        "built %s anonymized views (k=%s); %s new pseudonyms%s; skipped missing marts: %s",
        len(report.views), report.k, report.total_pseudonyms_added,
        " (key changed: map rebuilt)" if report.map_rebuilt else "",
        ", ".join(report.skipped_marts) or "none",
    )
    return dg.MaterializeResult(
        metadata={
            "views_built": dg.MetadataValue.int(len(report.views)),
            "views": dg.MetadataValue.json(list(report.views)),
            "pseudonyms_added": dg.MetadataValue.int(report.total_pseudonyms_added),
            "pseudonyms_added_by_kind": dg.MetadataValue.json(dict(report.pseudonyms_added)),
            "k_anonymity": dg.MetadataValue.int(report.k),
            "map_rebuilt": dg.MetadataValue.bool(report.map_rebuilt),
            "skipped_marts": dg.MetadataValue.text(", ".join(report.skipped_marts) or "none"),
            "key_fingerprint": dg.MetadataValue.text(report.key_fingerprint),
        },
    )
