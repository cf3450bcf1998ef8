"""Searching both audit logs: the warehouse's trail and the platform's events, newest first.

A person's id is pseudonymized in the warehouse's trail (it outlives erasures), so a search by a
user or client id also looks for that id's pseudonym there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.governance.pseudonyms import load_key, pseudonym
from dagster_project.warehouse import table_exists

MAX_LIMIT = 1000
PERSON_ENTITY_TYPES = frozenset({"user", "client"})
COLUMNS = ("source", "occurred_at", "activity", "severity", "actor", "entity_type", "entity_id", "detail")


@dataclass(frozen=True)
class AuditQuery:
    entity_type: str | None = None
    entity_id: str | None = None
    activity: str | None = None
    since: datetime | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise CoachwhError(f"--limit must be between 1 and {MAX_LIMIT} (default 50)")


def search(conn: duckdb.DuckDBPyConnection, settings: Settings, query: AuditQuery) -> list[tuple]:
    """Matching records of both logs as rows of COLUMNS, newest first, at most `query.limit`."""
    ids = [query.entity_id] if query.entity_id else []
    if query.entity_id and (query.entity_type in PERSON_ENTITY_TYPES or query.entity_type is None):
        key = load_key(settings)
        kinds = [query.entity_type] if query.entity_type else sorted(PERSON_ENTITY_TYPES)
        ids += [pseudonym(key, kind, query.entity_id) for kind in kinds]
    params: dict[str, object] = {"limit": query.limit}
    filters = ["true"]
    if query.entity_type:
        filters.append("entity_type = $entity_type")
        params["entity_type"] = query.entity_type
    if ids:
        filters.append("list_contains($ids, entity_id)")
        params["ids"] = ids
    if query.activity:
        filters.append("activity = $activity")
        params["activity"] = query.activity
    if query.since:
        filters.append("occurred_at >= $since")
        params["since"] = query.since
    parts = [
        """select 'warehouse' as source, occurred_at, operation as activity, '-' as severity, actor, entity_type,
                  entity_id, left(trim(coalesce(reason, '') || coalesce(' ' || counts::varchar, '')), 100) as detail
           from audit.audit_logs"""
    ]
    if table_exists(conn, "marts", "platform_audit_events"):
        parts.append(
            """select 'platform', occurred_at, event_type, severity, coalesce(actor_user_id, 'system'), entity_type,
                      entity_id, left(description, 100) || case when is_checksum_valid then '' else ' [CHECKSUM MISMATCH]' end
               from marts.platform_audit_events"""
        )
    sql = (f"select * from ({' union all '.join(parts)}) where {' and '.join(filters)} "
           f"order by occurred_at desc limit $limit")
    return conn.execute(sql, params).fetchall()
