"""Landing files of the hard cases, added beside a simulator dataset (their own users, hc_*).

Delivered in two waves by file date (simulator.delivery): `2026-09-30-*` files come with the first
wave (built and closed as of 2026-10-05: September closes), `2026-10-20-*` files with the second,
after September's close.

- a 3-second assemblyai completion: 3 / 60 x 0.00065 = 0.0000325 -> 0.000033 (half-up);
- month boundaries in UTC from +08:00 offsets: 2026-10-01T07:59:59.999+08:00 is September,
  2026-10-01T08:00:00+08:00 is October, and a plan change at 07:59:59+08:00 is in effect at the end
  of September;
- retries and re-transcriptions: failed -> free retry -> paid re-transcription in one session;
- late events after the close of September: a late completion (late_usage) and a late, earlier
  failure that turns an `original` into a free `retry_failed` (reclassified), both booked into
  October; and a re-transcription delivered late in the open month.
"""

from __future__ import annotations

import json
from pathlib import Path

# The charge of the 3-second assemblyai completion, half-up (0.0000325 exactly).
THREE_SECONDS_OF_ASSEMBLYAI_USD = "0.000033"


def _user(change_id: str, changed_at: str, user_id: str, plan: str, op: str = "insert") -> dict:
    return {"change_id": change_id, "changed_at": changed_at, "op": op, "user_id": user_id, "plan": plan,
            "role": "user", "email": f"{user_id}@example.com", "name": f"Hard Case {user_id}",
            "created_at": "2026-08-01T00:00:00+08:00"}


def _attempt(attempt: str, session: str, user: str, provider: str, started: str, ended: str,
             duration: float | None) -> list[dict]:
    """A started event and its terminal event: completed with `duration`, failed when None."""
    common = {"attempt_id": attempt, "session_id": session, "user_id": user, "client_id": f"{user}_client",
              "stt_provider": provider, "language": "zh-TW"}
    start = {"event_id": f"{attempt}_start", "event_type": "transcription_started", "occurred_at": started, **common}
    if duration is None:
        end = {"event_id": f"{attempt}_end", "event_type": "transcription_failed", "occurred_at": ended,
               "error_code": "provider_timeout", **common}
    else:
        end = {"event_id": f"{attempt}_end", "event_type": "transcription_completed", "occurred_at": ended,
               "duration_seconds": duration, **common}
    return [start, end]


FIRST_WAVE_USERS = [
    _user("hc_chg_1", "2026-08-01T09:00:00+08:00", "hc_user_a", "pro"),
    _user("hc_chg_2", "2026-08-01T09:00:00+08:00", "hc_user_b", "free"),
    # 2026-09-30T23:59:59Z: on student at the end of September
    _user("hc_chg_3", "2026-10-01T07:59:59+08:00", "hc_user_b", "student", op="update"),
]

FIRST_WAVE_EVENTS = [
    # the 3-second assemblyai original
    *_attempt("hc_a1", "hc_s1", "hc_user_a", "assemblyai", "2026-09-10T10:00:00+08:00", "2026-09-10T10:05:00+08:00", 3),
    # failed, then a free retry, then a paid re-transcription
    *_attempt("hc_a2", "hc_s2", "hc_user_a", "google", "2026-09-12T09:00:00+08:00", "2026-09-12T09:01:00+08:00", None),
    *_attempt("hc_a3", "hc_s2", "hc_user_a", "google", "2026-09-12T09:02:00+08:00", "2026-09-12T09:10:00+08:00", 125.5),
    *_attempt("hc_a4", "hc_s2", "hc_user_a", "google", "2026-09-12T09:20:00+08:00", "2026-09-12T09:30:00+08:00", 61),
    # the last millisecond of September in UTC, and the first instant of October
    *_attempt("hc_a5", "hc_s3", "hc_user_b", "assemblyai", "2026-10-01T07:50:00+08:00",
              "2026-10-01T07:59:59.999+08:00", 59.999),
    *_attempt("hc_a6", "hc_s4", "hc_user_b", "google", "2026-10-01T07:55:00+08:00", "2026-10-01T08:00:00+08:00", 60.001),
]

SECOND_WAVE_EVENTS = [
    # late completion in closed September: late_usage into October
    *_attempt("hc_a7", "hc_s5", "hc_user_a", "assemblyai", "2026-09-25T12:00:00+08:00", "2026-09-25T12:01:00+08:00", 3),
    # late, earlier failure in hc_s1: hc_a1 becomes a free retry, reclassified into October
    *_attempt("hc_a0", "hc_s1", "hc_user_a", "assemblyai", "2026-09-10T09:50:00+08:00", "2026-09-10T09:55:00+08:00", None),
    # a re-transcription in open October, delivered late
    *_attempt("hc_a8", "hc_s4", "hc_user_b", "google", "2026-10-02T10:00:00+08:00", "2026-10-02T10:10:00+08:00", 30),
]


def write_hard_cases(landing: Path) -> None:
    """Write the hard cases' files into `landing/<stream>/`, dated for the two deliveries."""
    files = {
        ("users", "2026-09-30-hard-cases.jsonl"): FIRST_WAVE_USERS,
        ("transcription_events", "2026-09-30-hard-cases.jsonl"): FIRST_WAVE_EVENTS,
        ("transcription_events", "2026-10-20-hard-cases-late.jsonl"): SECOND_WAVE_EVENTS,
    }
    for (stream, name), records in files.items():
        folder = landing / stream
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
