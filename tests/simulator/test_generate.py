"""The simulator writes a deterministic, realistic landing zone whose defects are exactly counted."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from dagster_project.contracts import STREAMS, load_contracts
from dagster_project.errors import CoachwhError
from dagster_project.simulator import GenerationSummary, generate, platform_audit_checksum
from tests.simulator.landing import (
    OFFSET_TS,
    SPECIAL_TAGS,
    extra_fields,
    normalized,
    parse_ts,
    read_file,
    stream_files,
    violations,
)

CONTRACTS = load_contracts()
REASON_TO_DEFECT = {
    "naive_timestamp": "naive_timestamps",
    "missing_required": "missing_required",
    "bad_enum": "bad_enum",
    "below_minimum": "negative_duration",
}
RATES = {"google": Decimal("0.006"), "assemblyai": Decimal("0.00065")}


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    out = tmp_path_factory.mktemp("noisy") / "landing"
    return out, generate(out)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    out = tmp_path_factory.mktemp("clean") / "landing"
    return out, generate(out, coaches=20, months=2, events_per_month=3000, clean=True)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _analyze(landing: Path, stream: str) -> dict[str, object]:
    """Defects and valid records of a stream, recounted from the original deliveries."""
    contract = CONTRACTS[stream]
    found: Counter[str] = Counter()
    seen: dict[str, tuple] = {}
    valid: list[dict] = []
    for read in stream_files(landing, stream):
        if read.corrupt:
            continue
        for line in read.lines:
            record = line.record
            if record is None:
                found["malformed_lines"] += 1
                continue
            if extra_fields(contract, record):
                found["extra_field_records"] += 1
            reasons = violations(contract, record)
            if reasons:
                found[REASON_TO_DEFECT[reasons[0].split(":")[0]]] += 1
                continue
            key = record[contract.primary_key]
            norm = normalized(contract, record)
            if key in seen:
                found["exact_duplicates" if seen[key] == norm else "conflicting_duplicates"] += 1
                continue
            seen[key] = norm
            valid.append(record)
            if stream == "transcription_events":
                delivered = date.fromisoformat(line.file[:10])
                if delivered > parse_ts(record["occurred_at"]).date():
                    found["late_events"] += 1
    if stream == "transcription_events":
        terminals: dict[str, set[str]] = defaultdict(set)
        for r in valid:
            if r["event_type"] != "transcription_started":
                terminals[r["attempt_id"]].add(r["event_id"])
        found["contradicting_terminal_events"] = sum(len(t) - 1 for t in terminals.values())
    return {"defects": +found, "valid": valid}


def _all_valid(landing: Path, stream: str) -> list[dict]:
    return _analyze(landing, stream)["valid"]  # type: ignore[return-value]


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    args = {"seed": 3, "coaches": 12, "months": 2, "events_per_month": 1500}
    first = generate(tmp_path / "a", **args)
    second = generate(tmp_path / "b", **args)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert first.to_dict() | {"out_dir": ""} == second.to_dict() | {"out_dir": ""}
    generate(tmp_path / "c", **(args | {"seed": 4}))
    assert _digests(tmp_path / "a") != _digests(tmp_path / "c")


def test_every_stream_is_delivered(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    for stream in STREAMS:
        assert any((landing / stream).iterdir()), stream
        assert summary.records[stream] > 0, stream
    names = sorted(p.name for p in (landing / "transcription_events").iterdir())
    assert {"2026-09-01.jsonl", "2026-09-05.jsonl.gz", "2026-09-07.parquet", "2026-11-30.parquet"} <= set(names)
    assert len([n for n in names if not any(t in n for t in SPECIAL_TAGS)]) == 91  # one file per day
    assert {p.name for p in (landing / "users").iterdir()} == {"2026-09.jsonl", "2026-10.parquet", "2026-11.jsonl.gz"}


def test_all_three_file_formats_are_used(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    on_disk = Counter()
    for p in landing.rglob("*"):
        if p.is_file():
            on_disk["jsonl.gz" if p.name.endswith(".jsonl.gz") else p.suffix.lstrip(".")] += 1
    assert on_disk == Counter(summary.files)
    assert all(summary.files[fmt] > 0 for fmt in ("jsonl", "jsonl.gz", "parquet"))


def test_parquet_files_carry_text_and_typed_utc_timestamps(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    dtypes = {pl.read_parquet_schema(p)["occurred_at"] for p in (landing / "transcription_events").glob("*.parquet")}
    assert pl.String in dtypes
    assert pl.Datetime("us", "UTC") in dtypes


def test_record_counts_in_the_summary_match_the_files(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    for stream in STREAMS:
        reads = stream_files(landing, stream, originals_only=False)
        assert sum(len(r.lines) for r in reads) == summary.records[stream], stream
        assert len(_all_valid(landing, stream)) == summary.valid_unique_records[stream], stream


def test_every_valid_line_has_the_required_fields_of_its_contract(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    for stream in STREAMS:
        contract = CONTRACTS[stream]
        invalid = 0
        for read in stream_files(landing, stream):
            for line in read.lines:
                if line.record is None:
                    continue
                reasons = violations(contract, line.record)
                if not reasons:
                    required = [f.name for f in contract.fields if f.required]
                    assert all(line.record.get(name) is not None for name in required)
                invalid += bool(reasons)
        expected = sum(summary.defects_by_stream.get(stream, {}).get(d, 0) for d in REASON_TO_DEFECT.values())
        assert invalid == expected, stream


def test_defect_counts_in_the_summary_match_the_files(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    for stream in STREAMS:
        found = _analyze(landing, stream)["defects"]
        expected = {
            k: v
            for k, v in summary.defects_by_stream.get(stream, {}).items()
            if k not in ("duplicate_files", "corrupt_files", "tampered_audit_checksums")
        }
        assert found == expected, stream
    for name in ("malformed_lines", "naive_timestamps", "missing_required", "bad_enum", "negative_duration"):
        assert 1 <= getattr(summary, name) <= 30, name  # a handful, not a flood
    assert summary.late_events > 0 and summary.exact_duplicates > 0 and summary.conflicting_duplicates > 0
    assert summary.extra_field_records > 0 and summary.contradicting_terminal_events >= 0


def test_some_late_events_cross_a_month_boundary(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    crossing = 0
    for read in stream_files(landing, "transcription_events"):
        for line in read.lines:
            ts = parse_ts((line.record or {}).get("occurred_at"))
            if ts is not None and line.file[:7] != ts.strftime("%Y-%m"):
                crossing += 1
    assert crossing > 0


def test_one_file_is_delivered_twice_and_one_is_corrupt(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    folder = landing / "transcription_events"
    assert summary.duplicate_files == 1 == len(summary.redelivered_files)
    copy = landing / summary.redelivered_files[0]
    original = folder / copy.name.replace(".redelivered", "")
    assert copy.read_bytes() == original.read_bytes()
    corrupt = [p for p in landing.rglob("*") if p.is_file() and read_file(p).corrupt]
    assert [str(p.relative_to(landing)) for p in corrupt] == summary.corrupt_file_paths
    assert summary.corrupt_files == 1


def test_audit_checksums_are_valid_except_the_tampered_ones(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, summary = noisy
    events = _all_valid(landing, "audit_events")
    bad = [e for e in events if platform_audit_checksum(e) != e["checksum"]]
    assert len(bad) == summary.tampered_audit_checksums == 2
    assert any(e["old_values"] for e in events) and any(e["actor_user_id"] is None for e in events)
    assert len({e["event_type"] for e in events}) >= 20


def test_the_audit_checksum_follows_the_spec_formula() -> None:
    event = {
        "event_id": "aud_1",
        "occurred_at": "2026-09-01T09:00:00.120+08:00",
        "event_type": "client_update",
        "actor_user_id": "usr_000001",
        "entity_type": "client",
        "entity_id": "cli_0000001",
        "operation": "update",
        "description": "Client status changed: paused → completed",
        "old_values": {"status": "paused"},
        "new_values": {"status": "completed"},
        "ip_address": "10.0.0.1",
    }
    obj = {
        "event_type": "client_update",
        "user_id": "usr_000001",
        "entity_type": "client",
        "entity_id": "cli_0000001",
        "operation": "update",
        "description": "Client status changed: paused → completed",
        "timestamp": "2026-09-01T09:00:00.120+08:00",
        "old_values": {"status": "paused"},
        "new_values": {"status": "completed"},
    }
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert platform_audit_checksum(event) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_clean_dataset_has_no_defects(clean: tuple[Path, GenerationSummary]) -> None:
    landing, summary = clean
    assert summary.total_defects == 0
    assert not summary.redelivered_files and not summary.corrupt_file_paths
    for stream in STREAMS:
        assert not any(tag in p.name for p in (landing / stream).iterdir() for tag in SPECIAL_TAGS)
        analysis = _analyze(landing, stream)
        assert analysis["defects"] == {}, stream
        assert len(analysis["valid"]) == summary.records[stream] == summary.valid_unique_records[stream]
    events = _all_valid(landing, "audit_events")
    assert all(platform_audit_checksum(e) == e["checksum"] for e in events)


def test_timestamps_carry_an_offset(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    suffixes = Counter()
    for stream in STREAMS:
        timestamp_fields = [f.name for f in CONTRACTS[stream].fields if f.logical_type == "timestamp"]
        for record in _all_valid(landing, stream):
            for name in timestamp_fields:
                value = record.get(name)
                if isinstance(value, str):
                    assert OFFSET_TS.match(value), (stream, name, value)
                    suffixes["Z" if value.endswith("Z") else value[-6:]] += 1
                elif value is not None:
                    assert value.tzinfo is not None  # typed Parquet timestamps are UTC-adjusted
    assert suffixes["Z"] and suffixes["+00:00"] and suffixes["+08:00"]
    assert suffixes["+08:00"] < suffixes["Z"] + suffixes["+00:00"]


def test_sessions_happen_after_their_coach_and_client_exist(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    created = {}
    for stream, key in (("users", "user_id"), ("clients", "client_id")):
        for r in _all_valid(landing, stream):
            if r["op"] == "insert":
                created[r[key]] = parse_ts(r["created_at"])
    events = _all_valid(landing, "transcription_events")
    assert events
    for e in events:
        at = parse_ts(e["occurred_at"])
        assert created[e["user_id"]] < at
        if e.get("client_id"):
            assert created[e["client_id"]] < at


def test_provider_cost_is_duration_times_the_provider_rate(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    completed = [e for e in _all_valid(landing, "transcription_events") if e["event_type"] == "transcription_completed"]
    with_cost = [e for e in completed if e.get("provider_cost_usd") is not None]
    assert 0.5 < len(with_cost) / len(completed) < 0.7
    for e in with_cost:
        # multiply before dividing: duration/60 x rate is exact only in that order in Decimal
        expected = (Decimal(str(e["duration_seconds"])) * RATES[e["stt_provider"]] / 60).quantize(
            Decimal("0.000001"), rounding=ROUND_HALF_UP
        )
        assert Decimal(str(e["provider_cost_usd"])) == expected, e
    durations = [e["duration_seconds"] for e in completed]
    assert any(isinstance(d, float) and d != int(d) for d in durations)
    assert any(d < 10 for d in durations)


def test_transcription_behaviour_has_the_platform_shape(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    events = _all_valid(landing, "transcription_events")
    terminal = [e for e in events if e["event_type"] != "transcription_started"]
    google = sum(e["stt_provider"] == "google" for e in terminal) / len(terminal)
    assert 0.6 < google < 0.8
    no_client = sum(not e.get("client_id") for e in terminal) / len(terminal)
    assert 0.05 < no_client < 0.16
    assert {e["language"] for e in events if e.get("language")} >= {"en-US", "zh-TW", "ja-JP"}
    attempts: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        attempts[e["session_id"]][e["attempt_id"]].append(e)
    first_failed = retried = retranscribed = no_start = n_attempts = 0
    for session in attempts.values():
        ordered = sorted(session.values(), key=lambda evs: min(parse_ts(e["occurred_at"]) for e in evs))
        outcomes = []
        for evs in ordered:
            n_attempts += 1
            no_start += not any(e["event_type"] == "transcription_started" for e in evs)
            ends = sorted(
                (parse_ts(e["occurred_at"]), e["event_type"]) for e in evs if e["event_type"] != "transcription_started"
            )
            outcomes.append(ends[0][1] if ends else None)
        first_failed += outcomes[0] == "transcription_failed"
        retried += outcomes[0] == "transcription_failed" and len(outcomes) > 1
        retranscribed += any(a == "transcription_completed" for a in outcomes[:-1])
    assert 0.05 < first_failed / len(attempts) < 0.11
    assert 0.6 < retried / first_failed < 0.9
    assert 0.02 < retranscribed / len(attempts) < 0.06
    assert 0.003 < no_start / n_attempts < 0.02


def test_entities_change_over_time(noisy: tuple[Path, GenerationSummary]) -> None:
    landing, _ = noisy
    clients = _all_valid(landing, "clients")
    ops = Counter(r["op"] for r in clients)
    assert ops["insert"] and ops["update"] and ops["delete"]
    history: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(clients, key=lambda r: parse_ts(r["changed_at"])):
        history[r["client_id"]].append(r)
    soft = [c for c, rows in history.items() if any(r["is_active"] is False and r["deleted_at"] for r in rows)]
    restored = [c for c in soft if history[c][-1]["is_active"] is True and history[c][-1]["op"] == "update"]
    assert soft and restored
    deleted = {r["client_id"]: parse_ts(r["changed_at"]) for r in clients if r["op"] == "delete"}
    used = defaultdict(list)
    for e in _all_valid(landing, "transcription_events"):
        if e.get("client_id") in deleted:
            used[e["client_id"]].append(parse_ts(e["occurred_at"]))
    assert used, "some hard-deleted clients must have usage"
    assert all(max(times) < deleted[c] for c, times in used.items())
    users = _all_valid(landing, "users")
    plans: dict[str, set[str]] = defaultdict(set)
    for r in users:
        plans[r["user_id"]].add(r["plan"])
    assert any(len(p) > 1 for p in plans.values())
    assert {r["role"] for r in users} >= {"user", "staff"}
    profiles = _all_valid(landing, "coach_profiles")
    assert sum(r["is_active"] is False for r in profiles) == 1
    requests = _all_valid(landing, "gdpr_requests")
    assert {r["subject_type"] for r in requests} == {"user", "client"}


def test_generate_refuses_a_landing_holding_another_dataset(tmp_path: Path) -> None:
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "2020-01.jsonl").write_text("{}\n")
    with pytest.raises(CoachwhError, match="another dataset"):
        generate(tmp_path, coaches=5, months=1, events_per_month=200)
