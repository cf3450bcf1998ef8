"""Delivery of transcription events to daily files, and the defects injected on the way.

Decides, for each event of a month, the day file it lands in and its position in that file, and
adds or alters a few rows so the feed looks like a real one (spec §2, §2.5):

- late events (~0.5%) land 1-20 days after they happened, a few across a month boundary;
- exact duplicates (~0.2%) are repeated in the next day's file;
- conflicting duplicates (a handful a month) repeat an event_id with different content;
- naive timestamps, missing required fields, bad enum values and negative durations (a handful a
  month each) are alterations of real events, which therefore become invalid;
- ~0.5% of events carry an unknown extra field;
- lines are slightly out of order within files.

Defect counts grow with the fourth root of the volume, so 10M events do not bring millions of
malformed records. The selections are disjoint (one defect per row), and attempts with a
contradicting terminal event are left alone, so every defect can be counted back from the files.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dagster_project.simulator.sessions import ASSEMBLYAI, COMPLETED, GOOGLE
from dagster_project.simulator.timestamps import DAY_MS, MINUTE_MS
from dagster_project.simulator.window import PARQUET, Calendar

LATE_RATE = 0.005
EXACT_DUPLICATE_RATE = 0.002
EXTRA_FIELD_RATE = 0.005
OUT_OF_ORDER_RATE = 0.03

COPY_NONE, COPY_EXACT, COPY_CONFLICT = 0, 1, 2
# Codes written by the serializer (event_files.py).
DROP_FIELDS = ("user_id", "session_id", "attempt_id", "stt_provider", "occurred_at")
BAD_PROVIDER = 2  # "openai_whisper"
BAD_EVENT_TYPE = 3  # "transcription_cancelled"
EXTRA_FIELDS = (
    ',"sdk_version":"2.3.1"',
    ',"client_app":"ios-4.12.0"',
    ',"region":"ap-northeast-1"',
)


def gentle(base: float, events_per_month: int) -> int:
    """A per-month defect count that grows with the fourth root of the volume."""
    return max(1, round(base * max(events_per_month / 6000, 0.05) ** 0.25))


def plan_delivery(
    rng: np.random.Generator,
    events: pl.DataFrame,
    cal: Calendar,
    month: int,
    events_per_month: int,
    clean: bool,
    protected_day: int,
) -> pl.DataFrame:
    """The month's events with delivery columns, plus duplicate rows; events past the window dropped.

    Added columns: occ_day, delivery_day, arrival (sort key within the file), copy (COPY_*), late,
    naive, drop_field (index into DROP_FIELDS or null), bad_enum, negative, extra (index into
    EXTRA_FIELDS or null). `protected_day` (the file that is later redelivered) gets no invalid rows,
    so its copy holds duplicates only.
    """
    ts = events["ts"].to_numpy()
    occ = cal.day_of(ts)
    keep = occ < cal.n_days
    events, ts, occ = events.filter(pl.Series(keep)), ts[keep], occ[keep]
    n = len(events)
    last_day = cal.n_days - 1
    delivery = occ.copy()
    arrival = ts.copy()
    late = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    drop = np.full(n, -1, dtype=np.int8)
    bad = np.zeros(n, dtype=bool)
    negative = np.zeros(n, dtype=bool)
    extra = np.full(n, -1, dtype=np.int8)
    copies: list[pl.DataFrame] = []

    if not clean and n:
        jitter = rng.random(n) < OUT_OF_ORDER_RATE
        arrival = arrival + np.where(jitter, rng.integers(-5 * MINUTE_MS, 5 * MINUTE_MS, size=n), 0)
        etype = events["etype"].to_numpy()
        provider = events["provider"].to_numpy()
        avail = ~np.isin(events["attempt_no"].to_numpy(), events.filter(pl.col("contra"))["attempt_no"].to_numpy())

        def take(k: int, mask: np.ndarray) -> np.ndarray:
            pool = np.flatnonzero(avail & mask)
            chosen = np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False)) if len(pool) else pool
            avail[chosen] = False
            return chosen

        # late deliveries, plus a few that cross into the next month
        idx = take(int(rng.binomial(n, LATE_RATE)), occ < last_day)
        delivery[idx] = np.minimum(occ[idx] + rng.integers(1, 21, size=len(idx)), last_day)
        if month + 1 < cal.n_months:
            month_end_day = cal.month_first_day[month + 1]
            idx2 = take(gentle(2, events_per_month), (occ >= month_end_day - 2) & (occ < month_end_day))
            delivery[idx2] = np.minimum(month_end_day + rng.integers(0, 5, size=len(idx2)), last_day)
            idx = np.concatenate([idx, idx2])
        late[idx] = delivery[idx] > occ[idx]
        day_start = cal.day_start_ms
        arrival[idx] = day_start[delivery[idx]] + rng.integers(0, DAY_MS, size=len(idx))

        idx = take(int(rng.binomial(n, EXACT_DUPLICATE_RATE)), occ < last_day)
        dup_day = delivery[idx] + 1
        copies.append(
            _copies(
                events, idx, occ[idx], dup_day, day_start[dup_day] + rng.integers(0, DAY_MS, size=len(idx)), COPY_EXACT
            )
        )

        idx = take(gentle(2, events_per_month), occ + 4 <= last_day)
        conflict_day = delivery[idx] + rng.integers(1, 4, size=len(idx))
        conflict_day = np.where(conflict_day == protected_day, conflict_day + 1, conflict_day)
        conflicts = _copies(
            events,
            idx,
            occ[idx],
            conflict_day,
            day_start[conflict_day] + rng.integers(0, DAY_MS, size=len(idx)),
            COPY_CONFLICT,
        )
        # Same event_id, different content: a re-measured duration, or the other provider.
        conflicts = conflicts.with_columns(
            pl.when(pl.col("duration_ms").is_not_null())
            .then(pl.col("duration_ms") + 1000 * (1 + pl.col("event_no") % 90))
            .alias("duration_ms"),
            pl.when(pl.col("duration_ms").is_null())
            .then(pl.when(pl.col("provider") == GOOGLE).then(ASSEMBLYAI).otherwise(GOOGLE))
            .otherwise(pl.col("provider"))
            .cast(pl.Int8)
            .alias("provider"),
        )
        copies.append(conflicts)

        # Alterations only where a reader sees text: JSONL files, not the redelivered one.
        text_day = np.array(
            [Calendar.event_file_format(d) != PARQUET and d != protected_day for d in range(cal.n_days)]
        )
        alterable = text_day[delivery]
        naive[take(gentle(2, events_per_month), alterable)] = True
        idx = take(gentle(2, events_per_month), alterable)
        drop[idx] = rng.integers(0, len(DROP_FIELDS), size=len(idx))
        bad_idx = take(gentle(2, events_per_month), alterable)
        bad[bad_idx] = True
        negative[take(gentle(1, events_per_month), alterable & (etype == COMPLETED))] = True
        idx = take(int(rng.binomial(n, EXTRA_FIELD_RATE)), alterable)
        extra[idx] = rng.integers(0, len(EXTRA_FIELDS), size=len(idx))
        # bad enum: half an unknown provider, half an unknown event type
        bad_provider = np.zeros(n, dtype=bool)
        bad_provider[bad_idx[::2]] = True
        provider = np.where(bad_provider, BAD_PROVIDER, provider)
        etype = np.where(bad & ~bad_provider, BAD_EVENT_TYPE, etype)
        events = events.with_columns(
            pl.Series("provider", provider, dtype=pl.Int8),
            pl.Series("etype", etype, dtype=pl.Int8),
            pl.when(pl.Series(negative))
            .then(-pl.col("duration_ms"))
            .otherwise(pl.col("duration_ms"))
            .alias("duration_ms"),
        )

    base = events.with_columns(
        pl.Series("occ_day", occ, dtype=pl.Int32),
        pl.Series("delivery_day", delivery, dtype=pl.Int32),
        pl.Series("arrival", arrival, dtype=pl.Int64),
        pl.lit(COPY_NONE, dtype=pl.Int8).alias("copy"),
        pl.Series("late", late),
        pl.Series("naive", naive),
        pl.Series("drop_field", drop, dtype=pl.Int8),
        pl.Series("bad_enum", bad),
        pl.Series("negative", negative),
        pl.Series("extra", extra, dtype=pl.Int8),
    )
    out = pl.concat([base, *copies], how="vertical") if copies else base
    out = out.with_columns(
        pl.when(pl.col("drop_field") >= 0).then(pl.col("drop_field")).alias("drop_field"),
        pl.when(pl.col("extra") >= 0).then(pl.col("extra")).alias("extra"),
    )
    return out.filter(pl.col("delivery_day") <= last_day)


def _copies(
    events: pl.DataFrame, idx: np.ndarray, occ: np.ndarray, day: np.ndarray, arrival: np.ndarray, copy: int
) -> pl.DataFrame:
    """Copies of rows `idx`, delivered on `day` (day past the window = dropped later)."""
    return events[idx].with_columns(
        pl.Series("occ_day", occ, dtype=pl.Int32),
        pl.Series("delivery_day", day, dtype=pl.Int32),
        pl.Series("arrival", arrival, dtype=pl.Int64),
        pl.lit(copy, dtype=pl.Int8).alias("copy"),
        pl.lit(False).alias("late"),
        pl.lit(False).alias("naive"),
        pl.lit(-1, dtype=pl.Int8).alias("drop_field"),
        pl.lit(False).alias("bad_enum"),
        pl.lit(False).alias("negative"),
        pl.lit(-1, dtype=pl.Int8).alias("extra"),
    )


def malformed_days(
    rng: np.random.Generator, cal: Calendar, month: int, events_per_month: int, clean: bool, protected_day: int
) -> dict[int, int]:
    """How many malformed lines go into which JSONL day files of the month."""
    if clean:
        return {}
    days = [d for d in cal.month_days(month) if Calendar.event_file_format(d) != PARQUET and d != protected_day]
    out: dict[int, int] = {}
    for d in rng.choice(days, size=gentle(3, events_per_month), replace=True):
        out[int(d)] = out.get(int(d), 0) + 1
    return out
