"""The platform's entities at birth: coaches (users), their clients and coach profiles.

Faker is used only here (tens of thousands of calls at the 10x scale, not millions). Static,
vectorizable attributes (creation time, locale, activity weight) live in numpy arrays that the
session simulator samples from; the CDC rows live in dicts that the lifecycle module mutates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from faker import Faker

from dagster_project.simulator import ids
from dagster_project.simulator.timestamps import DAY_MS, HOUR_MS, MINUTE_MS, STYLE_TAIPEI, STYLE_UTC_OFFSET, STYLE_Z
from dagster_project.simulator.window import Calendar


@dataclass(frozen=True)
class Locale:
    faker: str
    language: str
    utc_shift_hours: int  # where the coach works, for the time of day of sessions
    weight: float
    country: str
    timezones: tuple[str, ...]


LOCALES: tuple[Locale, ...] = (
    Locale("en_US", "en-US", -5, 0.68, "United States", ("America/New_York", "America/Chicago", "America/Los_Angeles")),
    Locale("zh_TW", "zh-TW", 8, 0.10, "Taiwan", ("Asia/Taipei",)),
    Locale("ja_JP", "ja-JP", 9, 0.09, "Japan", ("Asia/Tokyo",)),
    Locale("en_GB", "en-GB", 0, 0.08, "United Kingdom", ("Europe/London",)),
    Locale("de_DE", "de-DE", 1, 0.05, "Germany", ("Europe/Berlin",)),
)
TAIPEI_LOCALE = 1

PLANS = ("free", "student", "pro", "coaching_school")
PLAN_WEIGHTS = (0.70, 0.12, 0.15, 0.03)
# Paying coaches record more sessions; this shapes who the sessions belong to.
PLAN_ACTIVITY = np.array([0.6, 1.0, 2.0, 4.0])
ROLES = ("user", "staff", "admin", "super_admin")
ROLE_WEIGHTS = (0.965, 0.022, 0.010, 0.003)

CLIENT_SOURCES = ("referral", "organic", "friend", "social_media")
CLIENT_SOURCE_WEIGHTS = (0.35, 0.25, 0.20, 0.20)
CLIENT_TYPES = ("paid", "pro_bono", "free_practice", "other")
CLIENT_TYPE_WEIGHTS = (0.60, 0.15, 0.20, 0.05)
MEMO_TOPICS = (
    "Career transition",
    "Leadership presence",
    "Work-life balance",
    "Burnout recovery",
    "Team conflict",
    "Confidence before promotion",
    "Relationship goals",
    "Founder stress",
)

# Browsers and the mobile app the coaches use (Faker's agents are mostly decades old).
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36",
    "CoachAssist/4.12.0 (iOS 17.6; iPhone15,2)",
    "CoachAssist/4.11.3 (Android 14; SM-S918B)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36 Edg/127.0.0.0",
)

PRE_WINDOW_SHARE = 0.35  # coaches who signed up before the first delivered month


@dataclass
class Population:
    faker: Faker
    # users, by index; user id number = index + 1
    user_created_ms: np.ndarray
    user_locale: np.ndarray
    user_style: np.ndarray  # timestamp style of the user's CDC rows and audit events
    user_weight: np.ndarray
    user_rows: list[dict[str, Any]]
    user_ips: list[tuple[str, ...]]
    # clients, by index in creation order; client id number = index + 1
    client_user: np.ndarray
    client_created_ms: np.ndarray
    client_rows: list[dict[str, Any]]
    # coach profiles, by index in creation order
    profile_user: np.ndarray
    profile_created_ms: np.ndarray
    profile_rows: list[dict[str, Any]]
    user_agents: tuple[str, ...]

    @property
    def n_users(self) -> int:
        return len(self.user_rows)

    @property
    def n_clients(self) -> int:
        return len(self.client_rows)


def _choice(rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...], size: int) -> np.ndarray:
    p = np.asarray(weights) / np.sum(weights)
    return rng.choice(len(options), size=size, p=p)


def _whole_seconds(ms: np.ndarray) -> np.ndarray:
    # CDC timestamps of the platform's tables have second precision.
    return (ms // 1000) * 1000


def build_population(rng: np.random.Generator, fake: Faker, coaches: int, cal: Calendar) -> Population:
    n = coaches
    window = cal.end_ms - cal.start_ms
    # Sign-ups: some before the window (so day one has coaches), the rest spread across it but
    # not in its last two days, so every coach can record at least something.
    pre = rng.random(n) < PRE_WINDOW_SHARE
    pre[0] = True
    created = np.where(
        pre,
        cal.start_ms - rng.integers(DAY_MS, 365 * DAY_MS, size=n),
        cal.start_ms + rng.integers(0, max(window - 2 * DAY_MS, DAY_MS), size=n),
    )
    created = _whole_seconds(created)
    locale = _choice(rng, tuple(x.faker for x in LOCALES), tuple(x.weight for x in LOCALES), n)
    style = np.where(
        locale == TAIPEI_LOCALE, STYLE_TAIPEI, np.where(rng.random(n) < 0.6, STYLE_Z, STYLE_UTC_OFFSET)
    ).astype(np.int8)
    plan = _choice(rng, PLANS, PLAN_WEIGHTS, n)
    role = _choice(rng, ROLES, ROLE_WEIGHTS, n)
    if n >= 10 and not (role == 1).any():
        role[n // 2] = 1  # at least one staff member and one admin in any realistic team
    if n >= 10 and not (role >= 2).any():
        role[n // 3] = 2
    weight = rng.lognormal(0.0, 0.9, size=n) * PLAN_ACTIVITY[plan] * np.where(role == 0, 1.0, 0.2)

    user_rows: list[dict[str, Any]] = []
    user_ips: list[tuple[str, ...]] = []
    for i in range(n):
        f = fake[LOCALES[locale[i]].faker]
        user_rows.append(
            {
                "user_id": ids.make_id(ids.USER, i + 1),
                "plan": PLANS[plan[i]],
                "role": ROLES[role[i]],
                "email": f"{f.user_name()}{i + 1}@{f.free_email_domain()}",
                "name": f.name(),
                "created_at": int(created[i]),
            }
        )
        user_ips.append(tuple(fake["en_US"].ipv4_public() for _ in range(1 + i % 3)))

    clients = _build_clients(rng, fake, created, locale, cal)
    profiles = _build_profiles(rng, fake, created, locale, user_rows, cal)
    return Population(
        faker=fake,
        user_created_ms=created,
        user_locale=locale,
        user_style=style,
        user_weight=weight,
        user_rows=user_rows,
        user_ips=user_ips,
        client_user=clients[0],
        client_created_ms=clients[1],
        client_rows=clients[2],
        profile_user=profiles[0],
        profile_created_ms=profiles[1],
        profile_rows=profiles[2],
        user_agents=USER_AGENTS,
    )


def _build_clients(
    rng: np.random.Generator, fake: Faker, user_created: np.ndarray, locale: np.ndarray, cal: Calendar
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    n_users = len(user_created)
    per_user = np.minimum(rng.geometric(0.2, size=n_users), 15)
    owner = np.repeat(np.arange(n_users), per_user)
    first = np.r_[True, owner[1:] != owner[:-1]]
    base = user_created[owner]
    # A coach adds a first client within days of signing up, and the others over time.
    later = base + (rng.random(len(owner)) * (cal.end_ms - base)).astype(np.int64)
    soon = base + rng.integers(10 * MINUTE_MS, 3 * DAY_MS, size=len(owner))
    created = _whole_seconds(np.where(first, soon, later))
    keep = created < cal.end_ms - HOUR_MS
    owner, created = owner[keep], created[keep]
    order = np.lexsort((owner, created))  # client ids follow creation time
    owner, created = owner[order], created[order]

    source = _choice(rng, CLIENT_SOURCES, CLIENT_SOURCE_WEIGHTS, len(owner))
    ctype = _choice(rng, CLIENT_TYPES, CLIENT_TYPE_WEIGHTS, len(owner))
    rows: list[dict[str, Any]] = []
    for j in range(len(owner)):
        u = int(owner[j])
        f = fake[LOCALES[locale[u]].faker]
        rows.append(
            {
                "client_id": ids.make_id(ids.CLIENT, j + 1),
                "user_id": ids.make_id(ids.USER, u + 1),
                "name": f.name(),
                "email": f.email(),
                "phone": f.phone_number(),
                "memo": f"{MEMO_TOPICS[j % len(MEMO_TOPICS)]}. {f.sentence(nb_words=8)}",
                "source": CLIENT_SOURCES[source[j]],
                "client_type": CLIENT_TYPES[ctype[j]],
                "status": "first_session",
                "is_active": True,
                "deleted_at": None,
                "deleted_by": None,
                "created_at": int(created[j]),
            }
        )
    return owner.astype(np.int64), created, rows


def _build_profiles(
    rng: np.random.Generator,
    fake: Faker,
    user_created: np.ndarray,
    locale: np.ndarray,
    user_rows: list[dict[str, Any]],
    cal: Calendar,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    n_users = len(user_created)
    has = rng.random(n_users) < 0.55
    owner = np.flatnonzero(has)
    created = _whole_seconds(user_created[owner] + rng.integers(HOUR_MS, 30 * DAY_MS, size=len(owner)))
    keep = created < cal.end_ms - HOUR_MS
    owner, created = owner[keep], created[keep]
    order = np.lexsort((owner, created))
    owner, created = owner[order], created[order]
    rows: list[dict[str, Any]] = []
    for j in range(len(owner)):
        u = int(owner[j])
        loc = LOCALES[locale[u]]
        f = fake[loc.faker]
        rows.append(
            {
                "coach_profile_id": ids.make_id(ids.PROFILE, j + 1),
                "user_id": user_rows[u]["user_id"],
                "display_name": user_rows[u]["name"] if j % 4 else f"Coach {user_rows[u]['name']}",
                "public_email": f.email(),
                "phone": f.phone_number(),
                "city": f.city(),
                "country": loc.country,
                "timezone": loc.timezones[j % len(loc.timezones)],
                "bio": f.paragraph(nb_sentences=3),
                "is_public": bool(rng.random() < 0.8),
                "is_active": True,
                "deleted_at": None,
            }
        )
    return owner.astype(np.int64), created, rows
