"""Transcription activity of one month, vectorized: sessions -> attempts -> events.

Everything is numpy over arrays of sessions/attempts (no Python loop per event), so 1M events a
month cost a couple of seconds. Ids are kept as integers until the files are written.

Shape of the platform's behaviour (spec §2.1, §3.1-3.4):
- a session is one uploaded recording of a coach (user), usually about one of their clients;
- each attempt emits `transcription_started`, then minutes later `completed` or `failed`;
- ~8% of first attempts fail, ~75% of those sessions are retried (free retry), a retry can fail
  again; ~4% of completed sessions are re-transcribed later (a paid re-transcription);
- ~1% of attempts lose their started event; ~0.05% get a second, contradicting terminal event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.simulator.population import LOCALES, TAIPEI_LOCALE, Population
from dagster_project.simulator.timestamps import DAY_MS, HOUR_MS, MINUTE_MS, STYLE_TAIPEI, STYLE_UTC_OFFSET, STYLE_Z
from dagster_project.simulator.window import Calendar

# Events per session implied by the rates below (2 events per attempt, ~1.1 attempts per session).
EVENTS_PER_SESSION = 2.19

STARTED, COMPLETED, FAILED = 0, 1, 2
GOOGLE, ASSEMBLYAI = 0, 1
ORIGINAL, RETRY, RETRANSCRIPTION = 0, 1, 2

LANGUAGES = ("en-US", "zh-TW", "ja-JP", "en-GB", "de-DE", "es-ES", "fr-FR", "ko-KR")
ERROR_CODES = (
    "provider_timeout",
    "audio_decode_error",
    "provider_quota_exceeded",
    "unsupported_audio_format",
    "file_too_large",
    "internal_error",
)
ERROR_WEIGHTS = np.array([0.35, 0.2, 0.1, 0.15, 0.05, 0.15])
WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.45])

FIRST_FAIL = 0.08
RETRY_AFTER_FAIL = 0.75
RETRY_FAIL = 0.10
SECOND_RETRY = 0.5
RETRANSCRIBE = 0.04
NO_STARTED = 0.01
CONTRADICTING = 0.0005
NO_CLIENT = 0.10
PROVIDER_COST_KNOWN = 0.60
GOOGLE_SHARE = 0.70


@dataclass
class MonthActivity:
    events: pl.DataFrame  # one row per event; see `_events_frame` for columns
    attempts: pl.DataFrame  # one row per attempt (for the audit log)
    sessions_per_user: np.ndarray
    client_last_ms: np.ndarray  # per client: last event time of this month's sessions (0 = none)


def provider_cost_micro(duration_ms: np.ndarray, provider: np.ndarray) -> np.ndarray:
    """duration/60 x rate, in micro-USD rounded half-up, in exact integer arithmetic.

    google 0.006 USD/min = duration_ms / 10 micro-USD; assemblyai 0.00065 USD/min = duration_ms x 13 / 1200.
    """
    google = (duration_ms + 5) // 10
    assembly = (duration_ms * 26 + 1200) // 2400
    return np.where(provider == GOOGLE, google, assembly)


def _durations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Recording lengths in ms: coaching sessions of ~40 min, a few tiny clips, some fractional."""
    seconds = np.clip(np.exp(rng.normal(np.log(2400), 0.45, size=n)), 60, 3 * 3600).astype(np.int64)
    tiny = rng.random(n) < 0.005
    seconds = np.where(tiny, rng.integers(2, 11, size=n), seconds)
    ms = seconds * 1000
    fraction = rng.random(n)
    ms += np.where(fraction < 0.06, 500, 0) + np.where(fraction > 0.94, rng.integers(1, 1000, size=n), 0)
    return ms


def _pick_users(rng: np.random.Generator, pop: Population, day_start: np.ndarray) -> np.ndarray:
    """Weighted by activity, among coaches who signed up before the session's day (-1 = nobody yet)."""
    order = np.argsort(pop.user_created_ms, kind="stable")
    created_sorted = pop.user_created_ms[order]
    cumw = np.cumsum(pop.user_weight[order])
    n_elig = np.searchsorted(created_sorted, day_start, side="left")
    ok = n_elig > 0
    top = cumw[np.maximum(n_elig - 1, 0)]
    pos = np.searchsorted(cumw, rng.random(len(day_start)) * top, side="right")
    pos = np.minimum(pos, np.maximum(n_elig - 1, 0))
    return np.where(ok, order[pos], -1)


def _pick_clients(
    rng: np.random.Generator, pop: Population, usable: np.ndarray, user: np.ndarray, at_ms: np.ndarray
) -> np.ndarray:
    """A usable client of the session's coach created before it (-1 = none), uniformly.

    Clients are keyed by (coach, creation time) in one sorted int64 array, so "clients of u created
    before t" is two binary searches for all sessions at once. Unusable (deleted) clients get a
    creation time past the end of time.
    """
    base = int(pop.client_created_ms.min(initial=0)) - DAY_MS
    shift = np.int64(41)  # 2^41 ms ~ 70 years of creation times below the coach index
    rel = np.where(usable, pop.client_created_ms - base, np.int64(2**41 - 1))
    keys = (pop.client_user.astype(np.int64) << shift) | rel
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    u = user.astype(np.int64) << shift
    lo = np.searchsorted(keys, u, side="left")
    # a client created in the minute before the upload is not yet selectable
    n_avail = np.searchsorted(keys, u | np.maximum(at_ms - base - MINUTE_MS, 0), side="left") - lo
    pick = lo + (rng.random(len(user)) * np.maximum(n_avail, 0)).astype(np.int64)
    none = (n_avail <= 0) | (rng.random(len(user)) < NO_CLIENT)
    return np.where(none, -1, order[np.minimum(pick, len(order) - 1)] if len(order) else -1)


def _session_times(rng: np.random.Generator, cal: Calendar, month: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Day index and local hour-of-day (ms) of each session, busier on weekdays and in daytime."""
    days = np.asarray(cal.month_days(month))
    w = np.array([WEEKDAY_WEIGHT[cal.weekday(int(d))] for d in days])
    day = rng.choice(days, size=n, p=w / w.sum())
    local_ms = (np.clip(rng.normal(14.0, 3.2, size=n), 7.0, 22.99) * HOUR_MS).astype(np.int64)
    return day, local_ms


def simulate_month(
    rng: np.random.Generator,
    pop: Population,
    client_usable: np.ndarray,
    cal: Calendar,
    month: int,
    events_per_month: int,
    first_session: int,
    first_attempt: int,
    first_event: int,
    clean: bool,
) -> MonthActivity:
    n_sessions = max(1, round(events_per_month / EVENTS_PER_SESSION))
    day, local_ms = _session_times(rng, cal, month, n_sessions)
    day_start = cal.day_start_ms[day]
    user = _pick_users(rng, pop, day_start)
    keep = user >= 0
    day, local_ms, day_start, user = day[keep], local_ms[keep], day_start[keep], user[keep]
    shift = np.array([x.utc_shift_hours for x in LOCALES], dtype=np.int64)[pop.user_locale[user]] * HOUR_MS
    uploaded = day_start + np.mod(local_ms - shift + rng.integers(0, 1000, size=len(user)), DAY_MS)
    order = np.argsort(uploaded, kind="stable")  # session ids follow upload time
    uploaded, user = uploaded[order], user[order]
    n = len(user)
    client = _pick_clients(rng, pop, client_usable, user, uploaded)
    duration = _durations(rng, n)
    provider = (rng.random(n) >= GOOGLE_SHARE).astype(np.int8)
    home = np.array([LANGUAGES.index(x.language) for x in LOCALES])[pop.user_locale[user]]
    language = np.where(rng.random(n) < 0.9, home, rng.integers(0, len(LANGUAGES), size=n))
    language = np.where(rng.random(n) < 0.03, -1, language).astype(np.int8)

    attempts = _attempts(rng, uploaded, duration, provider, clean)
    session_no = first_session + np.arange(n, dtype=np.int64)
    events = _events_frame(rng, pop, attempts, session_no, user, client, duration, language, first_attempt, first_event)

    sess_idx = attempts["session"]
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, sess_idx, np.maximum(attempts["end"], attempts["contra_ms"]))
    client_last = np.zeros(pop.n_clients, dtype=np.int64)
    has = client >= 0
    np.maximum.at(client_last, client[has], last[has])

    att_order = np.lexsort((sess_idx, attempts["start"]))
    attempt_frame = pl.DataFrame(
        {
            "attempt_no": first_attempt + np.arange(len(att_order), dtype=np.int64),
            "session_no": session_no[sess_idx[att_order]],
            "user_idx": user[sess_idx[att_order]],
            "client_idx": client[sess_idx[att_order]],
            "uploaded_ms": uploaded[sess_idx[att_order]],
            "start_ms": attempts["start"][att_order],
            "end_ms": attempts["end"][att_order],
            "failed": attempts["failed"][att_order],
            "kind": attempts["kind"][att_order],
            "has_started": attempts["has_started"][att_order],
        }
    )
    return MonthActivity(
        events=events,
        attempts=attempt_frame,
        sessions_per_user=np.bincount(user, minlength=pop.n_users),
        client_last_ms=client_last,
    )


def _attempts(
    rng: np.random.Generator, uploaded: np.ndarray, duration: np.ndarray, provider: np.ndarray, clean: bool
) -> dict[str, np.ndarray]:
    """Attempt-level arrays (one entry per attempt) for all sessions of the month."""
    n = len(uploaded)

    def run(start: np.ndarray, fail_p: float, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        failed = rng.random(len(start)) < fail_p
        # processing takes a fraction of the audio length; failures surface after seconds to minutes
        work = 20_000 + (dur * rng.uniform(0.05, 0.3, size=len(start))).astype(np.int64)
        end = start + np.where(failed, rng.integers(5_000, 10 * MINUTE_MS, size=len(start)), work)
        return failed, end

    idx1 = np.arange(n)
    s1 = uploaded + rng.integers(3_000, 90_000, size=n)
    f1, e1 = run(s1, FIRST_FAIL, duration)
    p1 = provider

    r2 = f1 & (rng.random(n) < RETRY_AFTER_FAIL)
    idx2 = idx1[r2]
    s2 = e1[r2] + rng.integers(MINUTE_MS, 3 * HOUR_MS, size=len(idx2))
    p2 = np.where(rng.random(len(idx2)) < 0.3, 1 - p1[r2], p1[r2]).astype(np.int8)
    f2, e2 = run(s2, RETRY_FAIL, duration[idx2])

    r3 = f2 & (rng.random(len(idx2)) < SECOND_RETRY)
    idx3 = idx2[r3]
    s3 = e2[r3] + rng.integers(MINUTE_MS, 3 * HOUR_MS, size=len(idx3))
    p3 = p2[r3]
    f3, e3 = run(s3, RETRY_FAIL, duration[idx3])

    # outcome and end of each session's last attempt so far
    done = ~f1
    last_end = e1.copy()
    last_p = p1.copy()
    done[idx2] = ~f2
    last_end[idx2] = e2
    last_p[idx2] = p2
    done[idx3] = ~f3
    last_end[idx3] = e3
    last_p[idx3] = p3
    r4 = done & (rng.random(n) < RETRANSCRIBE)
    idx4 = idx1[r4]
    s4 = last_end[r4] + rng.integers(2 * HOUR_MS, 14 * DAY_MS, size=len(idx4))
    p4 = np.where(rng.random(len(idx4)) < 0.5, 1 - last_p[r4], last_p[r4]).astype(np.int8)
    f4, e4 = run(s4, 0.05, duration[idx4])

    session = np.concatenate([idx1, idx2, idx3, idx4])
    m = len(session)
    kind = np.concatenate(
        [np.full(n, ORIGINAL), np.full(len(idx2) + len(idx3), RETRY), np.full(len(idx4), RETRANSCRIPTION)]
    ).astype(np.int8)
    end = np.concatenate([e1, e2, e3, e4])
    contra = np.zeros(m, dtype=bool) if clean else rng.random(m) < CONTRADICTING
    return {
        "session": session,
        "start": np.concatenate([s1, s2, s3, s4]),
        "end": end,
        "failed": np.concatenate([f1, f2, f3, f4]),
        "provider": np.concatenate([p1, p2, p3, p4]).astype(np.int8),
        "kind": kind,
        "has_started": rng.random(m) >= NO_STARTED,
        "contra": contra,
        "contra_ms": np.where(contra, end + rng.integers(MINUTE_MS, 2 * DAY_MS, size=m), 0),
    }


def _events_frame(
    rng: np.random.Generator,
    pop: Population,
    att: dict[str, np.ndarray],
    session_no: np.ndarray,
    user: np.ndarray,
    client: np.ndarray,
    duration: np.ndarray,
    language: np.ndarray,
    first_attempt: int,
    first_event: int,
) -> pl.DataFrame:
    """One row per event. Integer columns: ids are numbers, enums are codes (see the writers)."""
    m = len(att["session"])
    att_order = np.lexsort((att["session"], att["start"]))
    attempt_no = np.empty(m, dtype=np.int64)
    attempt_no[att_order] = first_attempt + np.arange(m, dtype=np.int64)

    started = np.flatnonzero(att["has_started"])
    contra = np.flatnonzero(att["contra"])
    a = np.concatenate([started, np.arange(m), contra])  # attempt of each event
    etype = np.concatenate(
        [
            np.full(len(started), STARTED),
            np.where(att["failed"], FAILED, COMPLETED),
            np.where(att["failed"][contra], COMPLETED, FAILED),  # the contradiction flips the outcome
        ]
    ).astype(np.int8)
    ts = np.concatenate([att["start"][started], att["end"], att["contra_ms"][contra]])
    is_contra = np.zeros(len(a), dtype=bool)
    is_contra[len(started) + m :] = True

    s = att["session"][a]
    completed = etype == COMPLETED
    dur = np.where(completed, duration[s], -1)
    provider = att["provider"][a]
    cost = np.where(completed & (rng.random(len(a)) < PROVIDER_COST_KNOWN), provider_cost_micro(dur, provider), -1)
    error = np.where(
        etype == FAILED, rng.choice(len(ERROR_CODES), size=len(a), p=ERROR_WEIGHTS / ERROR_WEIGHTS.sum()), -1
    ).astype(np.int8)
    # Taipei coaches' platform region writes local time; elsewhere a mix of Z and +00:00.
    taipei = pop.user_locale[user[s]] == TAIPEI_LOCALE
    style = np.where(taipei, STYLE_TAIPEI, np.where(rng.random(len(a)) < 0.7, STYLE_Z, STYLE_UTC_OFFSET))

    order = np.lexsort((etype, attempt_no[a], ts))  # event ids follow time
    frame = pl.DataFrame(
        {
            "event_no": first_event + np.arange(len(a), dtype=np.int64),
            "ts": ts[order],
            "etype": etype[order],
            "attempt_no": attempt_no[a][order],
            "session_no": session_no[s][order],
            "user_no": (user[s] + 1)[order].astype(np.int64),
            "client_no": (client[s] + 1)[order].astype(np.int64),
            "provider": provider[order],
            "language": language[s][order],
            "duration_ms": dur[order],
            "cost_micro": cost[order],
            "error": error[order],
            "style": style[order].astype(np.int8),
            "contra": is_contra[order],
        }
    )
    # -1 / 0 sentinels become nulls once, so writers can rely on null = field absent.
    return frame.with_columns(
        pl.when(pl.col("client_no") > 0).then(pl.col("client_no")).alias("client_no"),
        pl.when(pl.col("language") >= 0).then(pl.col("language")).alias("language"),
        pl.when(pl.col("duration_ms") >= 0).then(pl.col("duration_ms")).alias("duration_ms"),
        pl.when(pl.col("cost_micro") >= 0).then(pl.col("cost_micro")).alias("cost_micro"),
        pl.when(pl.col("error") >= 0).then(pl.col("error")).alias("error"),
    )
