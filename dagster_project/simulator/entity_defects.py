"""Defects of the monthly record streams: a few extra invalid lines and unknown fields.

Unlike transcription events, a CDC line cannot be altered without changing the history it tells,
so invalid records here are additional lines: a change re-sent with a new change_id and a defect
(quarantined by ingestion), while every real change stays valid. Extra unknown fields are added to
real rows (they stay valid; the field is kept aside by ingestion). Only JSONL months get defects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EXTRA_FIELD_RATE = 0.005
EXTRA_FIELDS: dict[str, tuple[str, Any]] = {
    "users": ("marketing_opt_in", True),
    "clients": ("crm_sync_id", "hub-55012"),
    "coach_profiles": ("avatar_url", "https://cdn.platform.example/avatars/a1.png"),
    "audit_events": ("request_id", "req-7f3a9c"),
}
# per stream and month: (defect, how many)
RESENT_DEFECTS: dict[str, tuple[tuple[str, int], ...]] = {
    "users": (("bad_enum", 1),),
    "clients": (("naive_timestamps", 1), ("missing_required", 1)),
}
MALFORMED_PER_MONTH = {"clients": 1, "audit_events": 1}


@dataclass
class StreamDefects:
    rows: list[dict[str, Any]]
    malformed: int
    counts: dict[str, int]
    invalid_rows: int


def inject(
    rng: np.random.Generator,
    stream: str,
    rows: list[dict[str, Any]],
    new_change_id: Callable[[], str] | None,
) -> StreamDefects:
    """The month's rows with defects added; counts per defect name (malformed lines included)."""
    counts: dict[str, int] = {}
    out = [dict(r) for r in rows]
    if stream in EXTRA_FIELDS and out:
        key, value = EXTRA_FIELDS[stream]
        hits = np.flatnonzero(rng.random(len(out)) < EXTRA_FIELD_RATE)
        for i in hits:
            out[i][key] = value
        counts["extra_field_records"] = len(hits)
    invalid = 0
    if new_change_id is not None and out:
        for defect, k in RESENT_DEFECTS.get(stream, ()):
            for _ in range(k):
                src = out[int(rng.integers(0, len(out)))]
                bad = {k2: v for k2, v in src.items() if k2 != EXTRA_FIELDS[stream][0]}
                bad["change_id"] = new_change_id()
                bad["changed_at"] = int(src["changed_at"]) + 1000
                bad["op"] = "update"
                if defect == "bad_enum":
                    bad["plan"] = "enterprise"
                elif defect == "naive_timestamps":
                    bad["_naive"] = True
                elif defect == "missing_required":
                    bad.pop("client_id", None)
                out.insert(out.index(src) + 1, bad)
                counts[defect] = counts.get(defect, 0) + 1
                invalid += 1
    malformed = MALFORMED_PER_MONTH.get(stream, 0) if out else 0
    if malformed:
        counts["malformed_lines"] = malformed
    return StreamDefects(rows=out, malformed=malformed, counts=counts, invalid_rows=invalid)
