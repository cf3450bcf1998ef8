"""Appending to and verifying `audit.audit_logs`, the hash-chained record of data operations.

Each record holds the SHA-256 of the canonical JSON of its own fields plus the previous record's
hash, so editing any field, deleting a record or reordering records breaks the chain at that point
(the design of CloudTrail's log file integrity validation). `record()` writes inside the caller's
open transaction: the change and its audit record commit together or not at all.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import duckdb

from dagster_project.config import PROJECT_ROOT

GENESIS_HASH = "0" * 64

AUDIT_DDL = """create table if not exists audit.audit_logs (
    sequence_number BIGINT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    entity_type VARCHAR,
    entity_id VARCHAR,
    run_id VARCHAR,
    code_version VARCHAR NOT NULL,
    counts JSON,
    before_values JSON,
    after_values JSON,
    reason VARCHAR,
    prev_hash VARCHAR NOT NULL,
    record_hash VARCHAR NOT NULL
)"""

# The fields a record's hash covers, in the order they are stored.
HASHED_FIELDS = (
    "sequence_number", "occurred_at", "actor", "operation", "entity_type", "entity_id", "run_id",
    "code_version", "counts", "before_values", "after_values", "reason", "prev_hash",
)


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit the code runs from, else the installed package version."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "coachwh " + version("coachwh")
    except PackageNotFoundError:
        return "unknown"


def resolve_actor(run_tags: dict[str, str] | None = None) -> str:
    """Who asked: COACHWH_ACTOR, else the Dagster run's user or actor tag, else the OS user."""
    if os.environ.get("COACHWH_ACTOR"):
        return os.environ["COACHWH_ACTOR"]
    tags = run_tags or {}
    for key in ("coachwh/actor", "dagster/user", "user"):
        if tags.get(key):
            return tags[key]
    if tags.get("dagster/schedule_name"):
        return "schedule:" + tags["dagster/schedule_name"]
    if tags.get("dagster/sensor_name"):
        return "sensor:" + tags["dagster/sensor_name"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_json(value: Any) -> Any:
    # JSON columns come back from DuckDB as text; hash their parsed value so that formatting
    # differences in storage can never be mistaken for tampering (or hide it).
    if isinstance(value, str):
        return json.loads(value)
    return value


def record_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the hashed fields."""
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["occurred_at"] = _canonical_time(payload["occurred_at"])
    for name in ("counts", "before_values", "after_values"):
        payload[name] = _canonical_json(payload[name])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_audit_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists audit")
    conn.execute(AUDIT_DDL)


def record(
    conn: duckdb.DuckDBPyConnection,
    operation: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    counts: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
) -> int:
    """Append one record and return its sequence number.

    Call it inside the transaction that makes the change it describes. A person's id must be
    pseudonymized by the caller (`governance.pseudonyms`): the trail outlives erasures.
    """
    ensure_audit_table(conn)
    head = conn.execute(
        "select sequence_number, record_hash from audit.audit_logs order by sequence_number desc limit 1"
    ).fetchall()
    sequence, prev = (head[0][0] + 1, head[0][1]) if head else (1, GENESIS_HASH)
    fields: dict[str, Any] = {
        "sequence_number": sequence,
        "occurred_at": datetime.now(UTC),
        "actor": actor or resolve_actor(),
        "operation": operation,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "run_id": run_id,
        "code_version": code_version(),
        "counts": counts,
        "before_values": before,
        "after_values": after,
        "reason": reason,
        "prev_hash": prev,
    }
    digest = record_hash(fields)
    as_json = {k: (None if fields[k] is None else json.dumps(fields[k], sort_keys=True, default=str))
               for k in ("counts", "before_values", "after_values")}
    conn.execute(
        "insert into audit.audit_logs values (?, ?, ?, ?, ?, ?, ?, ?, ?::json, ?::json, ?::json, ?, ?, ?)",
        [sequence, fields["occurred_at"], fields["actor"], operation, entity_type, entity_id, run_id,
         fields["code_version"], as_json["counts"], as_json["before_values"], as_json["after_values"], reason,
         prev, digest],
    )
    return sequence


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    count: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} records, head {self.head_hash}"
        return f"BROKEN at sequence {self.broken_at}: {self.problem}"


def verify(conn: duckdb.DuckDBPyConnection, against: str | None = None) -> ChainStatus:
    """Walk the chain from the first record; report the first break, or OK with the head hash.

    With `against` (a head hash kept outside the warehouse), the chain must also still contain
    that hash: a chain rebuilt from scratch after tampering would not.
    """
    exists = conn.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'audit' and table_name = 'audit_logs'"
    ).fetchall()[0][0]
    rows = conn.execute(
        f"select {', '.join(HASHED_FIELDS)}, record_hash from audit.audit_logs order by sequence_number"
    ).fetchall() if exists else []
    prev = GENESIS_HASH
    seen_anchor = against is None or against == GENESIS_HASH
    for position, row in enumerate(rows, start=1):
        fields = dict(zip((*HASHED_FIELDS, "record_hash"), row, strict=True))
        sequence = fields["sequence_number"]
        if sequence != position:
            return ChainStatus(False, len(rows), prev, sequence,
                               f"expected sequence {position}: a record was deleted or inserted")
        if fields["prev_hash"] != prev:
            return ChainStatus(False, len(rows), prev, sequence,
                               "prev_hash does not match the previous record: records deleted or reordered")
        if record_hash(fields) != fields["record_hash"]:
            return ChainStatus(False, len(rows), prev, sequence, "record_hash does not match its fields: edited")
        prev = fields["record_hash"]
        seen_anchor = seen_anchor or prev == against
    if not seen_anchor:
        return ChainStatus(False, len(rows), prev, None, f"the chain does not contain the digest {against}")
    return ChainStatus(True, len(rows), prev)
