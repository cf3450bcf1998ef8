"""The platform's audit-event checksum (spec §2.4), and its verification at ingestion.

The simulator writes checksums with `platform_audit_checksum`, and ingestion recomputes them with
the same function: one definition of the platform's canonical form. `verify_unchecked` runs inside the
transaction that loads a batch of `audit_events`, so every loaded event has its verdict in
audit.platform_event_checks (checksum_valid), and a mismatching event is kept and flagged, never
dropped.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import duckdb
import orjson
import pyarrow as pa

# Which audit-event field feeds each key of the hashed object. The platform hashes `user_id` and
# `timestamp`, which are delivered as `actor_user_id` and `occurred_at`.
CHECKSUM_SOURCE_FIELDS: dict[str, str] = {
    "event_type": "event_type",
    "user_id": "actor_user_id",
    "entity_type": "entity_type",
    "entity_id": "entity_id",
    "operation": "operation",
    "description": "description",
    "timestamp": "occurred_at",
    "old_values": "old_values",
    "new_values": "new_values",
}


def platform_audit_checksum(event: dict[str, Any]) -> str:
    """Lowercase hex SHA-256 the platform stores in an audit event's `checksum`.

    `event` is one audit event as delivered (a parsed JSON line). `occurred_at` must be the exact
    text of the file, not a parsed timestamp: the platform hashed the string, so any re-formatting
    (offset, fraction digits) changes the digest. Missing fields hash as null.
    """
    timestamp = event.get("occurred_at")
    if timestamp is not None and not isinstance(timestamp, str):
        raise TypeError("occurred_at must be the timestamp text exactly as delivered, not a parsed value")
    obj = {key: event.get(source) for key, source in CHECKSUM_SOURCE_FIELDS.items()}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum_matches(event: dict[str, Any], checksum: str | None) -> tuple[bool, str]:
    """Whether `checksum` is the platform's checksum of `event`; and the checksum recomputed.

    Tries orjson first (about 4x faster on a million events): with sorted keys it writes the same
    compact UTF-8 text as `platform_audit_checksum` for the usual event. Where the two can differ
    (float spellings such as 1e-05, integers beyond 64 bits, NaN), orjson's digest does not match
    and the event is judged again by the reference function, so every verdict is the reference's.
    """
    obj = {key: event.get(source) for key, source in CHECKSUM_SOURCE_FIELDS.items()}
    try:
        fast = hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except (orjson.JSONEncodeError, TypeError):
        fast = None
    if fast is not None and fast == checksum:
        return True, fast
    reference = platform_audit_checksum(event)
    return reference == checksum, reference


PLATFORM_CHECKS_DDL = """create table if not exists audit.platform_event_checks (
    event_id VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL,
    checksum_valid BOOLEAN NOT NULL,
    recomputed_checksum VARCHAR NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL
)"""


def _as_object(value: Any) -> Any:
    # JSON columns come back as text: the platform hashed the parsed objects. orjson parses the
    # usual value; json the rest (orjson refuses integers beyond 64 bits and lone surrogates).
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def verify_unchecked(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Recompute the checksum of every loaded audit event with no verdict yet; return (valid, invalid).

    Called in the transaction that loads a batch of events, so it verifies that batch (and any event
    a warehouse older than this verification loaded).
    """
    conn.execute(PLATFORM_CHECKS_DDL)
    cursor = conn.execute(
        """
        select event_id, _batch_id as batch_id, event_type, actor_user_id, entity_type, entity_id, operation, description,
               coalesce(occurred_at_raw_text, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%f+00:00')) as occurred_at,
               old_values, new_values, checksum
        from raw.audit_events as e
        where not exists (select 1 from audit.platform_event_checks as c where c.event_id = e.event_id)
        """
    )
    names = [d[0] for d in cursor.description]
    verdicts = []
    for row in cursor.fetchall():
        event = dict(zip(names, row, strict=True))
        event["old_values"] = _as_object(event["old_values"])
        event["new_values"] = _as_object(event["new_values"])
        valid, recomputed = checksum_matches(event, event["checksum"])
        verdicts.append((event["event_id"], event["batch_id"], valid, recomputed))
    if verdicts:
        # One set-based insert: executemany inserts row by row, minutes for a million events.
        frame = pa.table({
            "event_id": [v[0] for v in verdicts], "batch_id": [v[1] for v in verdicts],
            "checksum_valid": [v[2] for v in verdicts], "recomputed_checksum": [v[3] for v in verdicts],
        })
        conn.register("_verdicts", frame)
        try:
            conn.execute("insert into audit.platform_event_checks select *, current_timestamp from _verdicts")
        finally:
            conn.unregister("_verdicts")
    valid = sum(v[2] for v in verdicts)
    return valid, len(verdicts) - valid
