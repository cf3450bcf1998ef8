"""The platform's own audit log (spec §2.4, US005), derived from what happened in the month.

Every CDC change, GDPR request and a sample of transcription activity produces audit events,
plus logins, daily analytics refreshes, retention runs and staff actions. Each event carries the
checksum the platform computes (`dagster_project.audit.platform_checksum`) over the exact text written;
a couple per dataset are tampered with afterwards (description edited, checksum left as it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from dagster_project.audit.platform_checksum import platform_audit_checksum
from dagster_project.simulator import ids
from dagster_project.simulator.lifecycle import Change
from dagster_project.simulator.population import Population
from dagster_project.simulator.sessions import ORIGINAL, RETRANSCRIPTION, RETRY
from dagster_project.simulator.timestamps import DAY_MS, HOUR_MS, MINUTE_MS, STYLE_UTC_OFFSET, STYLE_Z, format_ts
from dagster_project.simulator.window import Calendar

SEVERITY = {
    "user_login": "low",
    "user_logout": "low",
    "user_register": "low",
    "password_change": "medium",
    "profile_create": "low",
    "profile_update": "low",
    "profile_delete": "medium",
    "client_create": "low",
    "client_update": "low",
    "client_soft_delete": "medium",
    "client_restore": "medium",
    "client_anonymize": "high",
    "client_hard_delete": "high",
    "session_create": "low",
    "session_update": "low",
    "transcription_start": "low",
    "transcription_complete": "low",
    "transcription_fail": "medium",
    "transcription_retry": "low",
    "usage_log_create": "low",
    "analytics_update": "low",
    "data_export": "medium",
    "admin_action": "high",
    "config_change": "high",
    "data_retention_policy": "medium",
    "gdpr_access_request": "high",
    "gdpr_erasure_request": "critical",
    "gdpr_data_export": "high",
}
CHANGE_TEXT = {
    "user_register": ("user", "create", "User registered"),
    "profile_create": ("coach_profile", "create", "Coach profile created"),
    "profile_update": (None, "update", "Profile updated"),
    "profile_delete": ("coach_profile", "soft_delete", "Coach profile deactivated"),
    "client_create": ("client", "create", "Client created"),
    "client_update": ("client", "update", "Client updated"),
    "client_soft_delete": ("client", "soft_delete", "Client archived (soft delete)"),
    "client_restore": ("client", "restore", "Client restored from archive"),
    "client_hard_delete": ("client", "delete", "Client permanently deleted"),
}
# Sessions audited per month at most: the platform samples transcription lifecycle events.
AUDITED_SESSIONS = 600


@dataclass(slots=True)
class AuditEntry:
    ms: int
    event_type: str
    actor: int | None  # user index, None = the platform itself
    entity_type: str | None
    entity_id: str | None
    operation: str | None
    description: str
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None


def _user_index(user_id: str | None) -> int | None:
    return int(user_id.split("_")[1]) - 1 if user_id else None


def month_entries(
    rng: np.random.Generator,
    pop: Population,
    cal: Calendar,
    month: int,
    changes: list[Change],
    attempts: pl.DataFrame,
    sessions_per_user: np.ndarray,
    requests: list[dict[str, Any]],
) -> list[AuditEntry]:
    """Audit entries caused by the month's activity (some may fall after the month's end)."""
    start, end = cal.month_bounds_ms(month)
    out: list[AuditEntry] = []
    staff = [i for i, r in enumerate(pop.user_rows) if r["role"] != "user"]

    for c in changes:
        if c.ms < start:
            continue  # the audit log is delivered from the first month on
        entity_type, operation, text = CHANGE_TEXT[c.audit_type]
        entity_id = c.row.get("client_id") or c.row.get("coach_profile_id") or c.row.get("user_id")
        if c.stream == "users":
            entity_type = "user"
        elif c.stream == "coach_profiles":
            entity_type = "coach_profile"
        if c.old and "status" in c.old:
            text = f"Client status changed: {c.old['status']} → {c.new['status']}"  # type: ignore[index]
        elif c.old and "plan" in c.old:
            text = f"Plan changed: {c.old['plan']} → {c.new['plan']}"  # type: ignore[index]
        elif c.audit_type == "user_register":
            text = f"User registered on plan {c.row['plan']}"
        out.append(
            AuditEntry(c.ms, c.audit_type, _user_index(c.actor), entity_type, entity_id, operation, text, c.old, c.new)
        )
        if c.old and "plan" in c.old and staff and rng.random() < 0.2:
            admin = staff[int(rng.integers(0, len(staff)))]
            out.append(
                AuditEntry(
                    c.ms + 2000, "admin_action", admin, "user", entity_id, "update", "Plan change approved by support"
                )
            )

    _logins(rng, pop, start, end, sessions_per_user, out)
    _transcriptions(rng, attempts, out)
    _requests(rng, pop, requests, out)
    _platform(rng, pop, cal, month, staff, out)
    return out


def _logins(
    rng: np.random.Generator, pop: Population, start: int, end: int, sessions: np.ndarray, out: list[AuditEntry]
) -> None:
    for u in np.flatnonzero(pop.user_created_ms < end):
        lo = max(start, int(pop.user_created_ms[u]) + MINUTE_MS)
        n = min(12, 1 + int(sessions[u]) // 10) if sessions[u] else int(rng.random() < 0.5)
        if lo >= end or not n:
            continue
        uid = pop.user_rows[u]["user_id"]
        for t in np.sort(rng.integers(lo, end, size=n)):
            out.append(AuditEntry(int(t), "user_login", int(u), "user", uid, "login", "User logged in"))
            if rng.random() < 0.6:
                out.append(
                    AuditEntry(
                        int(t) + int(rng.integers(10 * MINUTE_MS, 3 * HOUR_MS)),
                        "user_logout",
                        int(u),
                        "user",
                        uid,
                        "logout",
                        "User logged out",
                    )
                )
        if rng.random() < 0.01:
            out.append(
                AuditEntry(
                    int(rng.integers(lo, end)), "password_change", int(u), "user", uid, "update", "Password changed"
                )
            )


def _transcriptions(rng: np.random.Generator, attempts: pl.DataFrame, out: list[AuditEntry]) -> None:
    sessions = attempts["session_no"].unique().sort().to_numpy()
    if not len(sessions):
        return
    p = min(1.0, AUDITED_SESSIONS / len(sessions))
    sampled = sessions[rng.random(len(sessions)) < p]
    rows = attempts.filter(pl.col("session_no").is_in(sampled)).sort(["start_ms", "attempt_no"])
    for a in rows.iter_rows(named=True):
        u = int(a["user_idx"])
        sid = ids.make_id(ids.SESSION, a["session_no"])
        aid = ids.make_id(ids.ATTEMPT, a["attempt_no"])
        if a["kind"] == ORIGINAL:
            out.append(
                AuditEntry(a["uploaded_ms"], "session_create", u, "session", sid, "create", "Recording uploaded")
            )
        elif a["kind"] == RETRY:
            out.append(
                AuditEntry(
                    a["start_ms"] - 500,
                    "transcription_retry",
                    u,
                    "attempt",
                    aid,
                    "create",
                    "Retry after failed transcription",
                )
            )
        elif a["kind"] == RETRANSCRIPTION:
            out.append(
                AuditEntry(
                    a["start_ms"] - 500, "session_update", u, "session", sid, "update", "Re-transcription requested"
                )
            )
        if a["has_started"]:
            out.append(
                AuditEntry(a["start_ms"], "transcription_start", u, "attempt", aid, "create", "Transcription started")
            )
        if a["failed"]:
            out.append(
                AuditEntry(a["end_ms"], "transcription_fail", None, "attempt", aid, "update", "Transcription failed")
            )
        else:
            out.append(
                AuditEntry(
                    a["end_ms"], "transcription_complete", None, "attempt", aid, "update", "Transcription completed"
                )
            )
            out.append(
                AuditEntry(a["end_ms"] + 50, "usage_log_create", None, "usage_log", aid, "create", "Usage log created")
            )


def _requests(rng: np.random.Generator, pop: Population, requests: list[dict[str, Any]], out: list[AuditEntry]) -> None:
    for r in requests:
        actor = _user_index(r["requested_by"]) if r["requested_by"].startswith("usr_") else None
        erasure = r["request_type"] == "erasure"
        kind = "gdpr_erasure_request" if erasure else "gdpr_access_request"
        text = f"Data subject request ({r['request_type']}) filed"
        out.append(AuditEntry(r["requested_at"], kind, actor, r["subject_type"], r["subject_id"], "create", text))
        later = r["requested_at"] + int(rng.integers(HOUR_MS, 5 * DAY_MS))
        if erasure and r["subject_type"] == "client":
            out.append(
                AuditEntry(
                    later,
                    "client_anonymize",
                    None,
                    "client",
                    r["subject_id"],
                    "anonymize",
                    "Client anonymized after erasure request",
                )
            )
        elif not erasure:
            out.append(
                AuditEntry(
                    later,
                    "gdpr_data_export",
                    None,
                    r["subject_type"],
                    r["subject_id"],
                    "export",
                    "Data export package generated",
                )
            )


def _platform(
    rng: np.random.Generator, pop: Population, cal: Calendar, month: int, staff: list[int], out: list[AuditEntry]
) -> None:
    days = cal.month_days(month)
    for d in days:
        out.append(
            AuditEntry(
                int(cal.day_start_ms[d]) + 2 * HOUR_MS,
                "analytics_update",
                None,
                "analytics",
                None,
                "execute",
                "Daily usage analytics refreshed",
            )
        )
    first = int(cal.day_start_ms[days[0]])
    out.append(
        AuditEntry(
            first + 3 * HOUR_MS, "data_retention_policy", None, "retention", None, "execute", "Retention policy run"
        )
    )
    for _ in range(2):
        t = first + int(rng.integers(0, len(days) * DAY_MS))
        u = int(rng.integers(0, pop.n_users))
        if pop.user_created_ms[u] < t:
            out.append(AuditEntry(t, "data_export", u, "client", None, "export", "Client list exported to CSV"))
    if staff:
        admin = staff[int(rng.integers(0, len(staff)))]
        old = int(rng.integers(60, 80))
        out.append(
            AuditEntry(
                first + int(rng.integers(0, len(days) * DAY_MS)),
                "config_change",
                admin,
                "config",
                "stt_routing",
                "update",
                "STT provider routing changed",
                {"google_share_pct": old},
                {"google_share_pct": old + 5},
            )
        )


def to_rows(
    rng: np.random.Generator, pop: Population, entries: list[AuditEntry], counter: ids.Counter, tamper: int
) -> tuple[list[dict[str, Any]], int]:
    """Audit lines in time order with ids and checksums; `tamper` of them edited after hashing."""
    # The log writes a few ms after the fact; less than the 50 ms between causally ordered entries.
    stamped = sorted(((e.ms + int(rng.integers(0, 40)), e) for e in entries), key=lambda x: x[0])
    rows: list[dict[str, Any]] = []
    for ms, e in stamped:
        if e.actor is None:
            style, ip, agent, actor_id = STYLE_Z, None, None, None  # the platform's own jobs: no client
        else:
            style = int(pop.user_style[e.actor])
            ips = pop.user_ips[e.actor]
            ip = ips[int(rng.integers(0, len(ips)))]
            agent = pop.user_agents[(e.actor * 7 + int(rng.integers(0, 2))) % len(pop.user_agents)]
            actor_id = pop.user_rows[e.actor]["user_id"]
        row: dict[str, Any] = {
            "event_id": ids.make_id(ids.AUDIT_EVENT, counter.next()),
            # the text is what the checksum covers; "+00:00" lines carry whole seconds, others ms
            "occurred_at": format_ts(ms, style, millis=style != STYLE_UTC_OFFSET),
            "event_type": e.event_type,
            "severity": SEVERITY[e.event_type],
            "actor_user_id": actor_id,
            "entity_type": e.entity_type,
            "entity_id": e.entity_id,
            "operation": e.operation,
            "description": e.description,
            "ip_address": ip,
            "user_agent": agent,
            "old_values": e.old,
            "new_values": e.new,
        }
        row["checksum"] = platform_audit_checksum(row)
        rows.append(row)
    candidates = [i for i, r in enumerate(rows) if r["actor_user_id"] is not None]
    done = 0
    for i in rng.permutation(candidates)[:tamper] if candidates else []:
        rows[int(i)]["description"] += " (no action taken)"  # edited after hashing
        done += 1
    return rows, done
