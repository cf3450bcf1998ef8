"""The platform's audit events: every checksum recomputed at ingestion, a mismatch kept and flagged."""

from __future__ import annotations

import dagster as dg

from dagster_project.audit.platform_checksum import platform_audit_checksum
from dagster_project.defs.audit.checks import platform_audit_checksums_valid
from dagster_project.ingestion import ingest_landing
from dagster_project.resources import WarehouseResource
from tests.conftest import write_jsonl


def _event(event_id: str, **fields) -> dict:
    event = {"event_id": event_id, "occurred_at": "2026-09-04T09:00:00.120+02:00", "event_type": "client_update",
             "severity": "medium", "actor_user_id": "usr_1", "entity_type": "client", "entity_id": "cli_1",
             "operation": "update", "description": "status changed — café", "ip_address": "203.0.113.9",
             "user_agent": "Mozilla/5.0", "old_values": {"status": "paused", "n": [1, 2.5]},
             "new_values": {"status": "in_progress"}, **fields}
    event["checksum"] = platform_audit_checksum(event)
    return event


def _check(settings) -> dg.AssetCheckResult:
    return platform_audit_checksums_valid(dg.build_asset_check_context(), warehouse=WarehouseResource())


def test_valid_checksums_pass_and_an_edited_event_is_kept_flagged_and_fails_the_check(settings, conn):
    edited = _event("ae3", actor_user_id=None)
    edited["description"] = "status changed (no action taken)"  # edited after hashing
    write_jsonl(settings.landing_dir, "audit_events", "a1.jsonl", [_event("ae1"), _event("ae2"), edited])
    ingest_landing(settings, conn)
    verdicts = conn.execute(
        "select event_id, checksum_valid from audit.platform_event_checks order by event_id").fetchall()
    assert verdicts == [("ae1", True), ("ae2", True), ("ae3", False)]
    assert conn.execute("select count(*) from raw.audit_events").fetchall()[0][0] == 3  # never dropped
    conn.close()
    result = _check(settings)
    assert not result.passed and result.metadata["checksum_mismatches"].value == 1


def test_the_check_passes_when_every_checksum_matches(settings, conn):
    write_jsonl(settings.landing_dir, "audit_events", "a1.jsonl", [_event("ae1"), _event("ae2", old_values=None)])
    ingest_landing(settings, conn)
    conn.close()
    result = _check(settings)
    assert result.passed and result.metadata["events_checked"].value == 2


def test_the_fast_checksum_path_gives_the_reference_verdict_on_awkward_values():
    from dagster_project.audit.platform_checksum import checksum_matches

    awkward = [
        _event("ae1"),
        _event("ae2", old_values={"ratio": 1e-05, "big": 10**30, "z": {"b": 1, "a": [0.1, -0.0]}}),
        _event("ae3", new_values={"nan": float("nan"), "text": "line\nbreak \u2028 \x01 \"q\" é 😀"}),
        _event("ae4", description=None, old_values=None, new_values=[]),
    ]
    for event in awkward:
        assert checksum_matches(event, event["checksum"]) == (True, event["checksum"])
        edited = {**event, "operation": "tampered"}
        valid, recomputed = checksum_matches(edited, event["checksum"])
        assert not valid and recomputed == platform_audit_checksum(edited)
