"""Change data capture of users, clients and coach profiles, one month at a time.

Each month produces "intents" (who changes what, when), applied in time order to the current row
of each entity, so every CDC line is the full row after its change (spec §2.2). Client deletions
are placed after the client's last transcription activity, so no session refers to a client that
was already deleted, and some clients with usage are hard-deleted later (usage must survive that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dagster_project.simulator import ids
from dagster_project.simulator.population import Population
from dagster_project.simulator.timestamps import DAY_MS, HOUR_MS
from dagster_project.simulator.window import Calendar

STATUS_NEXT = {
    "first_session": ("in_progress",),
    "in_progress": ("in_progress", "paused", "completed"),
    "paused": ("in_progress", "completed"),
    "completed": ("in_progress",),
}
# Plan changes lean towards upgrades; coaching schools rarely leave.
PLAN_MOVES = {
    "free": (("student", "pro", "coaching_school"), (0.45, 0.5, 0.05)),
    "student": (("pro", "free"), (0.7, 0.3)),
    "pro": (("coaching_school", "free", "student"), (0.2, 0.6, 0.2)),
    "coaching_school": (("pro",), (1.0,)),
}
SOFT_DELETE_RATE = 0.02
RESTORE_SHARE = 0.3
STATUS_UPDATE_RATE = 0.12
MEMO_UPDATE_RATE = 0.04
PLAN_CHANGE_RATE = 0.04
EMAIL_CHANGE_RATE = 0.01
PROFILE_UPDATE_RATE = 0.08


@dataclass
class Change:
    """One CDC line: the full row after the change, with timestamps as epoch ms."""

    stream: str
    ms: int
    op: str
    row: dict[str, Any]
    audit_type: str  # the platform audit event this change also produced
    actor: str | None
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    style: int = 0


@dataclass
class EntityState:
    """What the platform's tables look like now, between months."""

    client_usable: np.ndarray  # active and not hard-deleted: may get new sessions
    client_deleted_ms: np.ndarray  # when hard-deleted (0 = never): nothing happens to it afterwards
    client_last_ms: np.ndarray  # last transcription activity so far
    pending_restores: list[tuple[int, int]] = field(default_factory=list)  # (ms, client index)
    profile_deleted: bool = False
    user_changes: ids.Counter = field(default_factory=ids.Counter)
    client_changes: ids.Counter = field(default_factory=ids.Counter)
    profile_changes: ids.Counter = field(default_factory=ids.Counter)

    @classmethod
    def initial(cls, pop: Population) -> EntityState:
        n = pop.n_clients
        return cls(
            client_usable=np.ones(n, dtype=bool),
            client_deleted_ms=np.zeros(n, dtype=np.int64),
            client_last_ms=np.zeros(n, dtype=np.int64),
        )


def _rand_time(rng: np.random.Generator, lo: int, hi: int) -> int | None:
    """A whole-second instant in [lo, hi), or None when the interval is empty."""
    if hi - lo < 2000:
        return None
    return int(rng.integers(lo, hi) // 1000 * 1000)


def month_changes(
    rng: np.random.Generator, pop: Population, state: EntityState, cal: Calendar, month: int
) -> list[Change]:
    """All CDC changes of `month`, in time order, applied to the population's current rows."""
    start, end = cal.month_bounds_ms(month)
    lo = -(2**62) if month == 0 else start  # the first delivery includes everything before it
    intents: list[tuple[int, int, str, int, Any]] = []  # (ms, seq, kind, index, arg)

    def add(ms: int, kind: str, index: int, arg: Any = None) -> None:
        intents.append((ms, len(intents), kind, index, arg))

    for i in np.flatnonzero((pop.user_created_ms >= lo) & (pop.user_created_ms < end)):
        add(int(pop.user_created_ms[i]), "user_insert", int(i))
    for j in np.flatnonzero((pop.client_created_ms >= lo) & (pop.client_created_ms < end)):
        add(int(pop.client_created_ms[j]), "client_insert", int(j))
    for k in np.flatnonzero((pop.profile_created_ms >= lo) & (pop.profile_created_ms < end)):
        add(int(pop.profile_created_ms[k]), "profile_insert", int(k))

    users = np.flatnonzero(pop.user_created_ms < end - DAY_MS)
    for i in users[rng.random(len(users)) < PLAN_CHANGE_RATE]:
        t = _rand_time(rng, max(start, int(pop.user_created_ms[i]) + HOUR_MS), end)
        if t is not None:
            add(t, "plan_change", int(i))
    for i in users[rng.random(len(users)) < EMAIL_CHANGE_RATE]:
        t = _rand_time(rng, max(start, int(pop.user_created_ms[i]) + HOUR_MS), end)
        if t is not None:
            add(t, "email_change", int(i))

    existing = np.flatnonzero((pop.client_created_ms < end - HOUR_MS) & (state.client_deleted_ms == 0))
    for j in existing[rng.random(len(existing)) < STATUS_UPDATE_RATE]:
        t = _rand_time(rng, max(start, int(pop.client_created_ms[j]) + HOUR_MS), end)
        if t is not None:
            add(t, "client_status", int(j))
    for j in existing[rng.random(len(existing)) < MEMO_UPDATE_RATE]:
        t = _rand_time(rng, max(start, int(pop.client_created_ms[j]) + HOUR_MS), end)
        if t is not None:
            add(t, "client_memo", int(j))

    still = []
    for ms, j in state.pending_restores:
        (add(ms, "client_restore", j) if ms < end else still.append((ms, j)))
    state.pending_restores = still

    # Soft deletes: after the client's last activity, so sessions never point at an archived client.
    active = existing[state.client_usable[existing]]
    for j in active[rng.random(len(active)) < SOFT_DELETE_RATE]:
        floor = max(start, int(pop.client_created_ms[j]), int(state.client_last_ms[j])) + HOUR_MS
        t = _rand_time(rng, floor, end)
        if t is None:
            continue
        add(t, "client_soft_delete", int(j))
        state.client_usable[j] = False
        if rng.random() < RESTORE_SHARE:
            back = t + int(rng.integers(DAY_MS, 25 * DAY_MS)) // 1000 * 1000
            if back < end:
                add(back, "client_restore", int(j))
            elif back < cal.end_ms:
                state.pending_restores.append((back, int(j)))

    # Hard deletes: a few clients that have usage, so the warehouse must keep their usage logs.
    with_usage = np.flatnonzero((state.client_last_ms > 0) & (state.client_deleted_ms == 0))
    n_hard = min(len(with_usage), max(1, round(np.sqrt(pop.n_clients) / 8)))
    for j in rng.permutation(with_usage)[:n_hard]:
        floor = max(start, int(state.client_last_ms[j])) + HOUR_MS
        t = _rand_time(rng, floor, end)
        if t is None:
            continue
        add(t, "client_hard_delete", int(j))
        state.client_usable[j] = False
        state.client_deleted_ms[j] = t

    profiles = np.flatnonzero(pop.profile_created_ms < end - DAY_MS)
    for k in profiles[rng.random(len(profiles)) < PROFILE_UPDATE_RATE]:
        t = _rand_time(rng, max(start, int(pop.profile_created_ms[k]) + HOUR_MS), end)
        if t is not None:
            add(t, "profile_update", int(k))
    if month == cal.n_months - 1 and len(profiles) and not state.profile_deleted:
        k = int(profiles[int(rng.integers(0, len(profiles)))])
        t = _rand_time(rng, max(start, int(pop.profile_created_ms[k]) + DAY_MS), end)
        if t is not None:
            add(t, "profile_soft_delete", k)
            state.profile_deleted = True

    intents.sort(key=lambda x: (x[0], x[1]))
    changes: list[Change] = []
    for ms, _, kind, index, _arg in intents:
        change = _apply(rng, pop, state, kind, index, ms)
        if change is not None:
            changes.append(change)
    return changes


def _apply(rng: np.random.Generator, pop: Population, state: EntityState, kind: str, i: int, ms: int) -> Change | None:
    if kind.startswith("user") or kind in ("plan_change", "email_change"):
        return _apply_user(rng, pop, state, kind, i, ms)
    if kind.startswith("profile"):
        return _apply_profile(rng, pop, state, kind, i, ms)
    deleted = int(state.client_deleted_ms[i])
    if deleted and ms > deleted:
        return None  # a hard-deleted client has no later changes (e.g. a scheduled restore)
    row = pop.client_rows[i]
    coach = row["user_id"]
    u = int(pop.client_user[i])
    style = int(pop.user_style[u])
    cid = state.client_changes

    def change(
        op: str, audit: str, old: dict[str, Any] | None, new: dict[str, Any] | None, actor: str | None = coach
    ) -> Change:
        return Change("clients", ms, op, _cdc(cid, ids.CLIENT_CHANGE, ms, op, row), audit, actor, old, new, style)

    if kind == "client_insert":
        new = {k: row[k] for k in ("client_type", "source", "status")}
        return change("insert", "client_create", None, new)
    if kind == "client_status":
        old_status = row["status"]
        options = STATUS_NEXT[old_status]
        row["status"] = options[int(rng.integers(0, len(options)))]
        if row["status"] == old_status:
            return None
        return change("update", "client_update", {"status": old_status}, {"status": row["status"]})
    if kind == "client_memo":
        row["memo"] = f"{row['memo'].split('.')[0]}. Follow-up: {pop.faker['en_US'].sentence(nb_words=6)}"
        return change("update", "client_update", None, {"changed_fields": ["memo"]})
    if kind == "client_soft_delete":
        if not row["is_active"]:
            return None
        row.update(is_active=False, deleted_at=ms, deleted_by=coach)
        return change("update", "client_soft_delete", {"is_active": True}, {"is_active": False})
    if kind == "client_restore":
        if row["is_active"]:
            return None
        row.update(is_active=True, deleted_at=None, deleted_by=None)
        state.client_usable[i] = not deleted  # restored before a later hard delete stays unusable
        return change("update", "client_restore", {"is_active": False}, {"is_active": True})
    if kind == "client_hard_delete":
        # op=delete carries the full row as it was before the delete
        return change("delete", "client_hard_delete", {"is_active": row["is_active"]}, None)
    raise ValueError(kind)


def _apply_user(rng: np.random.Generator, pop: Population, state: EntityState, kind: str, i: int, ms: int) -> Change:
    row = pop.user_rows[i]
    style = int(pop.user_style[i])
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None
    if kind == "user_insert":
        op, audit, new = "insert", "user_register", {"plan": row["plan"], "role": row["role"]}
    elif kind == "plan_change":
        moves, weights = PLAN_MOVES[row["plan"]]
        old = {"plan": row["plan"]}
        row["plan"] = moves[int(rng.choice(len(moves), p=np.asarray(weights)))]
        op, audit, new = "update", "profile_update", {"plan": row["plan"]}
    else:  # email_change
        name, _, domain = row["email"].partition("@")
        row["email"] = f"{name}.new@{domain}"
        op, audit, new = "update", "profile_update", {"changed_fields": ["email"]}
    line = _cdc(state.user_changes, ids.USER_CHANGE, ms, op, row)
    return Change("users", ms, op, line, audit, row["user_id"], old, new, style)


def _apply_profile(
    rng: np.random.Generator, pop: Population, state: EntityState, kind: str, k: int, ms: int
) -> Change | None:
    row = pop.profile_rows[k]
    u = int(pop.profile_user[k])
    style = int(pop.user_style[u])
    actor = row["user_id"]
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    if kind == "profile_insert":
        op, audit, new = "insert", "profile_create", {"is_public": row["is_public"]}
    elif kind == "profile_update":
        if not row["is_active"]:
            return None
        if rng.random() < 0.5:
            old = {"is_public": row["is_public"]}
            row["is_public"] = not row["is_public"]
            new = {"is_public": row["is_public"]}
        else:
            row["bio"] = pop.faker["en_US"].paragraph(nb_sentences=2)
            new = {"changed_fields": ["bio"]}
        op, audit = "update", "profile_update"
    else:  # profile_soft_delete
        row.update(is_active=False, deleted_at=ms)
        op, audit, old, new = "update", "profile_delete", {"is_active": True}, {"is_active": False}
    line = _cdc(state.profile_changes, ids.PROFILE_CHANGE, ms, op, row)
    return Change("coach_profiles", ms, op, line, audit, actor, old, new, style)


def _cdc(counter: ids.Counter, kind: tuple[str, int], ms: int, op: str, row: dict[str, Any]) -> dict[str, Any]:
    """change_id, changed_at, op, then a snapshot of the full row."""
    return {"change_id": ids.make_id(kind, counter.next()), "changed_at": ms, "op": op, **row}
