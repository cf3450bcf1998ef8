"""The platform's audit-log checksum (spec §2.4), shared by the simulator and by ingestion.

Kept free of heavy imports so the ingestion code can verify checksums with exactly the function
that produced them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
