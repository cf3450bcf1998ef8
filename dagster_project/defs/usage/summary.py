"""What a dbt build leaves in the Dagster UI: row counts, a headline table, and figures it plots.

dagster-dbt's own `fetch_row_counts()` queries each table while `dbt build` is still running, which
DuckDB's single writer forbids (the dbt process holds the lock). So the build's events are held
back until dbt has exited, then enriched from one read-only connection and yielded in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb

# Materializations whose rows are stored. Views are counted only in `marts` (the public API, whose
# views are small per-month aggregates): counting a staging view would recompute it over raw rows.
_STORED = {"table", "incremental", "snapshot", "seed"}
_COUNTED_VIEW_SCHEMAS = {"marts"}
HEADLINE_MONTHS = 6


def stored_relations(manifest_path: Path) -> dict[str, tuple[str, str]]:
    """unique_id -> (schema, table) of every dbt node whose rows are worth counting after a build."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    relations: dict[str, tuple[str, str]] = {}
    for unique_id, node in manifest.get("nodes", {}).items():
        materialized = (node.get("config") or {}).get("materialized")
        counted = materialized in _STORED or (materialized == "view" and node["schema"] in _COUNTED_VIEW_SCHEMAS)
        if node.get("resource_type") in {"model", "snapshot", "seed"} and counted:
            relations[unique_id] = (node["schema"], node.get("alias") or node["name"])
    return relations


def row_counts(conn: duckdb.DuckDBPyConnection, relations: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    """Rows of each relation that exists, in one query (a relation dbt failed to build is skipped)."""
    existing = {
        (schema, name)
        for schema, name in conn.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
    }
    present = {uid: rel for uid, rel in relations.items() if rel in existing}
    if not present:
        return {}
    union = " union all ".join(
        f"select '{uid}' as unique_id, count(*) as n from \"{schema}\".\"{name}\"" for uid, (schema, name) in present.items()
    )
    return {uid: int(n) for uid, n in conn.execute(union).fetchall()}


def headline_markdown(conn: duckdb.DuckDBPyConnection) -> tuple[str, Decimal]:
    """The last months' usage and revenue as a Markdown table, and all-time statement revenue."""
    rows = conn.execute(
        f"""
        with usage as (
            select usage_month, count(distinct user_id) as active_users, sum(total_transcriptions) as transcriptions,
                   sum(failed_attempts) as failed, sum(billable_minutes) as billable_minutes,
                   sum(provider_cost_usd) as provider_cost_usd
            from marts.usage_analytics group by usage_month
        ),
        revenue as (
            select billing_month, sum(total_usd) as revenue_usd from marts.billing_statements group by billing_month
        )
        select u.usage_month, u.active_users, u.transcriptions, u.failed, u.billable_minutes,
               u.provider_cost_usd, coalesce(r.revenue_usd, 0)
        from usage as u left join revenue as r on r.billing_month = u.usage_month
        order by u.usage_month desc
        limit {HEADLINE_MONTHS}
        """
    ).fetchall()
    total = conn.execute("select coalesce(sum(total_usd), 0) from marts.billing_statements").fetchall()[0][0]
    lines = [
        "| month | active coaches | transcriptions | failed | billable minutes | provider cost (USD) | revenue (USD) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for month, users, transcriptions, failed, minutes, cost, revenue in rows:
        lines.append(f"| {month:%Y-%m} | {users} | {transcriptions} | {failed} | {minutes} | {cost} | {revenue} |")
    return "\n".join(lines), Decimal(total)


def _metadata_for(uid: str, counts: Mapping[str, int], extra: Mapping[str, Mapping[str, dg.MetadataValue]]):
    metadata: dict[str, dg.MetadataValue] = {}
    if uid in counts:
        # The standard key: the UI shows it on the asset and plots it over time.
        metadata["dagster/row_count"] = dg.MetadataValue.int(counts[uid])
    metadata.update(extra.get(uid, {}))
    return metadata


def enrich(events: Iterable[object], conn: duckdb.DuckDBPyConnection, manifest_path: Path) -> list[object]:
    """The build's events, materializations carrying row counts; the headline on the two marts."""
    events = list(events)
    relations = stored_relations(manifest_path)
    counts = row_counts(conn, relations)
    extra: dict[str, dict[str, dg.MetadataValue]] = {}
    analytics_uid = next((u for u, rel in relations.items() if rel == ("marts", "usage_analytics")), None)
    statements_uid = next((u for u, rel in relations.items() if rel == ("marts", "billing_statements")), None)
    if analytics_uid in counts and statements_uid in counts:
        table, revenue = headline_markdown(conn)
        extra[analytics_uid] = {"headline": dg.MetadataValue.md(table)}
        extra[statements_uid] = {
            "headline": dg.MetadataValue.md(table),
            # Plotted by the UI, which needs a number; the exact DECIMAL is beside it as text.
            "revenue_usd": dg.MetadataValue.float(float(revenue)),
            "revenue_usd_exact": dg.MetadataValue.text(str(revenue)),
        }
    enriched: list[object] = []
    for event in events:
        uid = None
        if isinstance(event, (dg.Output, dg.AssetMaterialization)):
            raw = (event.metadata or {}).get("unique_id")
            uid = getattr(raw, "value", raw)
        if uid is not None:
            added = _metadata_for(uid, counts, extra)
            if added:
                event = event.with_metadata({**event.metadata, **added})
        enriched.append(event)
    return enriched
