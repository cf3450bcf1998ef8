"""What a dbt build leaves in the Dagster UI: row counts, a headline table, and figures it plots.

dagster-dbt's own `fetch_row_counts()` queries each table while `dbt build` is still running, which
DuckDB's single writer forbids (the dbt process holds the lock). So dbt counts the rows itself: a
post-hook on every node (dbt/macros/row_counts.sql) logs "coachwh_row_count <n>", and the build's
events are yielded as dbt reports them, each materialization with its count. Only the two marts
that carry the headline table (and their checks) wait for dbt to exit, to be read then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb

ROW_COUNT_LOG = "coachwh_row_count "
HEADLINE_MONTHS = 6
# The marts whose materializations carry the headline table, read once dbt has exited.
HEADLINE_ASSETS = (dg.AssetKey(["marts", "usage_analytics"]), dg.AssetKey(["marts", "billing_statements"]))
# A dbt node's asset key: the project's translator decides it (`CoachwhDbtTranslator.get_asset_key`).
KeyOf = Callable[[Mapping[str, Any]], dg.AssetKey]


def logged_row_count(raw_event: Mapping[str, Any]) -> tuple[str, int] | None:
    """(unique_id, rows) when a dbt log event is a row count logged by macros/row_counts.sql."""
    info = raw_event.get("info") or {}
    message = info.get("msg") or ""
    if info.get("name") != "JinjaLogInfo" or not message.startswith(ROW_COUNT_LOG):
        return None
    unique_id = ((raw_event.get("data") or {}).get("node_info") or {}).get("unique_id")
    try:
        return (unique_id, int(message[len(ROW_COUNT_LOG):])) if unique_id else None
    except ValueError:
        return None


def _unique_id(event: object) -> str | None:
    if isinstance(event, (dg.Output, dg.AssetMaterialization)):
        raw = (event.metadata or {}).get("unique_id")
        return getattr(raw, "value", raw)
    return None


def with_row_count(event: object, counts: Mapping[str, int]) -> object:
    """A model's materialization with its row count (the standard key: the UI shows and plots it)."""
    uid = _unique_id(event)
    if uid is None or uid not in counts:
        return event
    assert isinstance(event, (dg.Output, dg.AssetMaterialization))
    return event.with_metadata({**event.metadata, "dagster/row_count": dg.MetadataValue.int(counts[uid])})


def asset_of(event: object, manifest: Mapping[str, Any], key_of: KeyOf) -> dg.AssetKey | None:
    """The asset a build event is about: a checked asset, or the node a materialization is of."""
    if isinstance(event, dg.AssetCheckResult):
        return event.asset_key
    uid = _unique_id(event)
    node = (manifest.get("nodes") or {}).get(uid) if uid else None
    return key_of(node) if node is not None else None


def held_assets(manifest: Mapping[str, Any], key_of: KeyOf) -> frozenset[dg.AssetKey]:
    """The headline marts and every node built from them: Dagster wants a multi-asset's outputs in
    dependency order, so what depends on a held-back mart is held back with it."""
    nodes = manifest.get("nodes") or {}
    children = manifest.get("child_map") or {}
    built = {uid for uid, node in nodes.items() if node.get("resource_type") in {"model", "snapshot", "seed"}}
    pending = [uid for uid in built if key_of(nodes[uid]) in HEADLINE_ASSETS]
    held: set[str] = set()
    while pending:
        uid = pending.pop()
        if uid not in held:
            held.add(uid)
            pending.extend(child for child in children.get(uid, []) if child in built)
    return frozenset(key_of(nodes[uid]) for uid in held)


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


def with_headline(events: Iterable[object], conn: duckdb.DuckDBPyConnection,
                  manifest: Mapping[str, Any], key_of: KeyOf) -> list[object]:
    """The held-back events of the headline marts, their materializations carrying the headline."""
    events = list(events)
    table, revenue = headline_markdown(conn)
    extra: dict[dg.AssetKey, dict[str, dg.MetadataValue]] = {
        HEADLINE_ASSETS[0]: {"headline": dg.MetadataValue.md(table)},
        HEADLINE_ASSETS[1]: {
            "headline": dg.MetadataValue.md(table),
            # Plotted by the UI, which needs a number; the exact DECIMAL is beside it as text.
            "revenue_usd": dg.MetadataValue.float(float(revenue)),
            "revenue_usd_exact": dg.MetadataValue.text(str(revenue)),
        },
    }
    out: list[object] = []
    for event in events:
        key = asset_of(event, manifest, key_of)
        if isinstance(event, (dg.Output, dg.AssetMaterialization)) and key in extra:
            event = event.with_metadata({**event.metadata, **extra[key]})
        out.append(event)
    return out
