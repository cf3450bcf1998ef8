"""Enforcing the data retention policies (spec §4.6): erase, purge or archive what outlived its policy.

The policies are rows of `reference.data_retention_policies` (a dbt seed), read from the seed's
CSV file while dbt has not loaded it yet. Each policy names a data category, an action (`retain`,
`archive`, `anonymize`, `delete`), retention_days (null = unlimited) and grace_days; an item is due
when it is older than retention_days + grace_days as of the run's `as_of`.

The categories:

- `soft_deleted_<subject>_pii` (anonymize): subjects whose current state (latest CDC row by
  changed_at, change_id) is soft-deleted (`is_active = false`, `deleted_at` set, op not `delete`)
  for longer than the policy, not in governance.erasures yet and with vault rows left, are erased
  by the injected eraser (GDPR erasure, trigger `retention`). Hard-deleted subjects (op `delete`)
  are not erased by retention: their PII is kept for accounting until a data-subject request asks.
  Users carry no soft-delete fields in contract v1, so that policy evaluates nothing and says why.
  Coach profiles are vaulted under their user (subject `user`): only the PII their own records
  brought (source_stream `coach_profiles`) is erased, never the user's account PII.
- `quarantine_raw_text` (delete): the text of quarantined lines (vault.quarantine_text for streams
  that carry PII, raw.quarantine.raw_text for the others) is purged, and the vault file rewritten
  whole; the quarantine rows stay (the purge is in the audit record and retention_runs), so the
  file reconciliation is unchanged.
- `session_detail_<plan>` (delete): the session detail kept beyond the permanent usage logs is the
  event-level rows of raw.transcription_events. A session of a user whose current plan (latest
  users row with a plan; no row = free) is <plan> and whose last event is past the policy loses
  its events, but only when every completed attempt of it has its row in marts.usage_logs and
  every one of its events was in a batch the usage logs were built from (so nothing billable, nor
  a late event that would restate a log, is lost). Rows removed are counted per landing file in
  governance.retention_purged_rows, which the reconciliation check adds back. The failed attempts
  of a purged session stay counted in marts.usage_analytics (months already computed are kept),
  and the incremental intermediate attempt tables keep its attempts; after a full refresh of those,
  a later event of a purged session is classified without its purged history.
- `warehouse_audit_logs` / `platform_audit_events` (archive): audit records past ten years. The
  platform's events (raw.audit_events, PII already in the vault) are copied to Parquet under
  COACHWH_HOME/archive/platform_audit_events/ and then removed from raw. The warehouse's own trail
  (audit.audit_logs) is hash-chained and never deleted here: the audit archive will do it.

How a run commits: DuckDB writes one file per transaction and the vault is its own file, so each
policy first does its vault-side (and file-side) work, then ONE warehouse transaction applies every
policy's warehouse changes, the governance.retention_runs rows and the `retention_run` audit
record. A policy whose warehouse statements fail is left out of that transaction, which is retried
without it, so one failing policy never stops the others. A crash between the two leaves only
already-purged text (a rerun counts it as 0) or an archive file whose rows are still in raw (a rerun
archives them again under its own run id: an archived row may be doubled, never lost; a failed
transaction removes its file). A dry run computes the same numbers and writes nothing at all.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb

from dagster_project.audit.trail import record
from dagster_project.config import Settings
from dagster_project.contracts import load_contracts
from dagster_project.governance.retention_policies import RetentionPolicy, load_policies
from dagster_project.warehouse import table_exists, transaction

log = logging.getLogger(__name__)

__all__ = ["RetentionPolicy", "enforce_retention", "load_policies", "retention_violations"]

ERASURE_TRIGGER = "retention"
SESSION_PREFIX = "session_detail_"


# --- the eraser (GDPR erasure, written in governance/erasure.py) --------------------------------


class Eraser(Protocol):
    """Erases one subject's PII from every file the warehouse keeps, and records that it did.

    `source_stream` limits the erasure to the PII that stream's records brought (coach profiles
    are vaulted under their user); None erases the whole subject.
    """

    def __call__(
        self,
        settings: Settings,
        conn: duckdb.DuckDBPyConnection,
        subject_type: str,
        subject_id: str,
        *,
        trigger: str,
        run_id: str | None,
        actor: str | None,
        source_stream: str | None,
    ) -> object: ...


def default_eraser(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    subject_type: str,
    subject_id: str,
    *,
    trigger: str,
    run_id: str | None,
    actor: str | None,
    source_stream: str | None,
) -> object:
    """GDPR erasure of the whole subject, or of one stream's PII of it (see `erase_stream_pii`)."""
    # Imported here: erasure imports ingestion, which imports the warehouse, which imports governance.
    from dagster_project.governance.erasure import erase_stream_pii, erase_subject

    if source_stream is not None:
        return erase_stream_pii(settings, conn, subject_type, subject_id, source_stream)
    return erase_subject(settings, conn, subject_type, subject_id, trigger=trigger, run_id=run_id, actor=actor)


# --- results ----------------------------------------------------------------------------------


@dataclass
class PolicyResult:
    data_category: str
    action: str
    retention_days: int | None
    grace_days: int
    evaluated: int = 0
    acted_on: int = 0
    failed: int = 0
    status: str = "succeeded"  # succeeded | failed
    detail: str = ""
    due: int = 0  # items past the policy when evaluated (what a dry run reports as acted on)

    def fail(self, detail: str, failed: int | None = None) -> None:
        self.status = "failed"
        if failed is not None:
            self.failed = failed
        self.detail = f"{self.detail}; {detail}" if self.detail else detail


@dataclass
class RetentionReport:
    as_of: datetime
    dry_run: bool
    retention_run_id: str | None  # None for a dry run, which writes nothing
    results: list[PolicyResult] = field(default_factory=list)

    def result(self, data_category: str) -> PolicyResult:
        for item in self.results:
            if item.data_category == data_category:
                return item
        raise KeyError(data_category)

    @property
    def failed_policies(self) -> list[PolicyResult]:
        return [r for r in self.results if r.status == "failed"]


# --- SQL helpers ------------------------------------------------------------------------------


def _has_vault(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table_exists(conn, "main", table, catalog="vault")


def _one(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple:
    return conn.execute(sql, params or {}).fetchall()[0]


def _ts_literal(moment: datetime) -> str:
    # COPY does not take bound parameters; the value is ours, formatted here, never user text.
    return f"timestamptz '{moment.astimezone(UTC).isoformat()}'"


@dataclass(frozen=True)
class _Counts:
    evaluated: int
    due: int
    note: str = ""


# --- soft-deleted subjects' PII ---------------------------------------------------------------


@dataclass(frozen=True)
class _SoftDeleteSubject:
    stream: str  # the CDC stream and raw table
    entity_id: str  # the entity's id column
    subject_type: str  # the vault's subject type
    subject_id: str  # the column holding the vault's subject id
    scoped: bool  # erase only the PII this stream's records brought (the subject is shared)


SOFT_DELETE_SUBJECTS = {
    "soft_deleted_user_pii": _SoftDeleteSubject("users", "user_id", "user", "user_id", False),
    "soft_deleted_client_pii": _SoftDeleteSubject("clients", "client_id", "client", "client_id", False),
    "soft_deleted_coach_profile_pii": _SoftDeleteSubject("coach_profiles", "coach_profile_id", "user", "user_id", True),
}
SOFT_DELETE_FIELDS = {"is_active", "deleted_at"}


def _soft_delete_unsupported(conn: duckdb.DuckDBPyConnection, spec: _SoftDeleteSubject) -> str | None:
    contract = load_contracts().get(spec.stream)
    if contract is None or not set(contract.field_names) >= SOFT_DELETE_FIELDS:
        return (f"the {spec.stream} contract has no soft-delete fields (is_active, deleted_at): {spec.stream} "
                f"are only hard-deleted, and hard-deleted subjects are erased on request, not by retention")
    if not table_exists(conn, "raw", spec.stream):
        return f"raw.{spec.stream} is not loaded yet"
    return None


def _vault_rows_left(conn: duckdb.DuckDBPyConnection, spec: _SoftDeleteSubject) -> str:
    conditions = []
    for table in ("pii", "extra_fields"):
        if not _has_vault(conn, table):
            continue
        match = f"v.subject_type = '{spec.subject_type}' and v.subject_id = s.subject_id"
        if spec.scoped:
            # The same scope erase_stream_pii erases (one coach profile per user in the platform).
            match += f" and v.source_stream = '{spec.stream}'"
        conditions.append(f"exists (select 1 from vault.{table} as v where {match})")
    return " or ".join(conditions) or "false"


def _soft_deleted_sql(conn: duckdb.DuckDBPyConnection, spec: _SoftDeleteSubject) -> str:
    """Currently soft-deleted entities with `is_due`; binds $cutoff (null = never due)."""
    # A shared subject (coach profile -> user) is judged by its own records' vault rows, since
    # governance.erasures names the user, not the profile.
    not_erased = "true" if spec.scoped else (
        "not exists (select 1 from governance.erasures as e "
        f"where e.subject_type = '{spec.subject_type}' and e.subject_id = s.subject_id)"
        if table_exists(conn, "governance", "erasures") else "true"
    )
    return f"""
        with latest as (
            select {spec.entity_id} as entity_id, {spec.subject_id} as subject_id, op, is_active, deleted_at
            from raw.{spec.stream}
            qualify row_number() over (partition by {spec.entity_id} order by changed_at desc, change_id desc) = 1
        ),
        s as (
            select * from latest where op <> 'delete' and is_active = false and deleted_at is not null
        )
        select s.entity_id, s.subject_id, s.deleted_at,
               coalesce(s.deleted_at < $cutoff, false) and {not_erased} and ({_vault_rows_left(conn, spec)}) as is_due
        from s
    """


def _count_soft_deleted(conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
                        memo: dict[str, Any]) -> _Counts:
    spec = SOFT_DELETE_SUBJECTS[policy.data_category]
    why_not = _soft_delete_unsupported(conn, spec)
    if why_not:
        return _Counts(0, 0, why_not)
    evaluated, due = _one(
        conn, f"select count(*), count(*) filter (where is_due) from ({_soft_deleted_sql(conn, spec)})",
        {"cutoff": policy.cutoff(as_of)},
    )
    return _Counts(evaluated, due, f"{evaluated} soft-deleted, {due} past the policy with PII left")


def _act_soft_deleted(run: _Run, policy: RetentionPolicy, result: PolicyResult, counts: _Counts) -> _WarehouseStep | None:
    spec = SOFT_DELETE_SUBJECTS[policy.data_category]
    result.detail = counts.note
    if not counts.due:
        return None
    subjects = run.conn.execute(
        f"select entity_id, subject_id from ({_soft_deleted_sql(run.conn, spec)}) where is_due order by entity_id",
        {"cutoff": policy.cutoff(run.as_of)},
    ).fetchall()
    errors: list[str] = []
    for entity_id, subject_id in subjects:
        try:
            run.eraser(run.settings, run.conn, spec.subject_type, subject_id, trigger=ERASURE_TRIGGER,
                       run_id=run.audit_run_id, actor=run.actor, source_stream=spec.stream if spec.scoped else None)
            result.acted_on += 1
        except Exception as exc:  # one subject's failure must not stop the others
            log.exception("retention: erasing %s %s failed", spec.stream, entity_id)
            result.failed += 1
            errors.append(f"{type(exc).__name__}: {exc}")
    result.detail = f"{counts.evaluated} soft-deleted, {result.acted_on} erased"
    if errors:
        result.fail(f"{len(errors)} failed, first: {errors[0]}")
    return None


# --- quarantined raw text ---------------------------------------------------------------------


def _count_quarantine(conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
                      memo: dict[str, Any]) -> _Counts:
    params = {"cutoff": policy.cutoff(as_of)}
    evaluated = due = 0
    if _has_vault(conn, "quarantine_text"):
        held, old = _one(conn, "select count(*), count(*) filter (where quarantined_at < $cutoff) "
                               "from vault.quarantine_text", params)
        evaluated, due = evaluated + held, due + old
    if table_exists(conn, "raw", "quarantine"):
        held, old = _one(conn, "select count(*), count(*) filter (where quarantined_at < $cutoff) "
                               "from raw.quarantine where raw_text is not null", params)
        evaluated, due = evaluated + held, due + old
    return _Counts(evaluated, due, f"{evaluated} quarantined texts held, {due} past the policy")


def _act_quarantine(run: _Run, policy: RetentionPolicy, result: PolicyResult, counts: _Counts) -> _WarehouseStep | None:
    params = {"cutoff": policy.cutoff(run.as_of)}
    if _has_vault(run.conn, "quarantine_text"):
        # The vault is its own file: its purge commits first, on its own.
        with transaction(run.conn):
            deleted = _one(run.conn, "delete from vault.quarantine_text where quarantined_at < $cutoff", params)[0]
        result.acted_on += deleted
        if deleted:
            # The text may hold PII, and DuckDB keeps deleted rows in free blocks: rewrite the vault whole.
            from dagster_project.governance.erasure import compact_vault

            compact_vault(run.conn, run.settings)
    pending = _one(run.conn, "select count(*) from raw.quarantine where raw_text is not null "
                             "and quarantined_at < $cutoff", params)[0]
    result.acted_on += pending
    result.detail = f"{result.acted_on} quarantined texts purged"

    def apply() -> None:
        run.conn.execute("update raw.quarantine set raw_text = null where raw_text is not null "
                         "and quarantined_at < $cutoff", params)

    return _WarehouseStep(apply, pending)


# --- session detail per plan ------------------------------------------------------------------


def _plans() -> tuple[str, ...]:
    return load_contracts()["users"].field("plan").enum or ()


def _session_plan(category: str) -> str | None:
    plan = category.removeprefix(SESSION_PREFIX)
    return plan if category.startswith(SESSION_PREFIX) and plan in _plans() else None


SESSIONS_TABLE = "_retention_sessions"


def _prepare_sessions(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Fill temp table _retention_sessions, one row per session; return why nothing is purgeable, if so.

    Columns: session_id, plan (the user's current plan), last_event_at, events, and purgeable
    (every completed attempt has a usage log and every event was in a batch the logs were built
    from; null when the usage logs do not exist).
    """
    if not table_exists(conn, "raw", "transcription_events"):
        conn.execute(f"create or replace temp table {SESSIONS_TABLE} (session_id VARCHAR, plan VARCHAR, "
                     "last_event_at TIMESTAMPTZ, events BIGINT, purgeable BOOLEAN)")
        return "raw.transcription_events is not loaded yet"
    has_logs = table_exists(conn, "marts", "usage_logs")
    current_plans = (
        "select user_id, plan from raw.users where plan is not null "
        "qualify row_number() over (partition by user_id order by changed_at desc, change_id desc) = 1"
        if table_exists(conn, "raw", "users") else "select null::varchar as user_id, null::varchar as plan limit 0"
    )
    if has_logs:
        # The outcome of an attempt is its earliest terminal event (spec §3.1), as in the dbt model.
        purgeable = """(
            s.last_batch_id <= (select max(source_batch_id) from marts.usage_logs)
            and not exists (
                select 1 from outcomes as o
                where o.session_id = s.session_id and o.event_type = 'transcription_completed'
                  and not exists (select 1 from marts.usage_logs as u where u.attempt_id = o.attempt_id)))"""
    else:
        purgeable = "null::boolean"
    conn.execute(
        f"""
        create or replace temp table {SESSIONS_TABLE} as
        with current_plans as ({current_plans}),
        outcomes as (
            select attempt_id, session_id, event_type from raw.transcription_events
            where event_type in ('transcription_completed', 'transcription_failed')
            qualify row_number() over (partition by attempt_id order by occurred_at, event_id) = 1
        ),
        s as (
            select session_id, arg_max(user_id, occurred_at) as user_id, max(occurred_at) as last_event_at,
                   max(_batch_id) as last_batch_id, count(*) as events
            from raw.transcription_events group by session_id
        )
        select s.session_id, coalesce(p.plan, 'free') as plan, s.last_event_at, s.events,
               {purgeable} as purgeable
        from s left join current_plans as p on p.user_id = s.user_id
        """
    )
    return None if has_logs else "usage logs not built yet"


def _count_sessions(conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
                    memo: dict[str, Any]) -> _Counts:
    if "sessions" not in memo:
        memo["sessions"] = _prepare_sessions(conn)
    why_not = memo["sessions"]
    evaluated, due, unlogged, events = _one(
        conn,
        f"""select count(*), count(*) filter (where last_event_at < $cutoff and purgeable),
                   count(*) filter (where last_event_at < $cutoff and not purgeable),
                   coalesce(sum(events) filter (where last_event_at < $cutoff and purgeable), 0)
            from {SESSIONS_TABLE} where plan = $plan""",
        {"cutoff": policy.cutoff(as_of), "plan": _session_plan(policy.data_category)},
    )
    note = f"{evaluated} sessions, {due} past the policy ({events} events)"
    if unlogged:
        note += f"; {unlogged} past it kept: a completed attempt has no usage log yet or events are not built"
    if why_not:
        note += f"; nothing purged: {why_not}"
    return _Counts(evaluated, due, note)


def _act_sessions(run: _Run, policy: RetentionPolicy, result: PolicyResult, counts: _Counts) -> _WarehouseStep | None:
    plan = _session_plan(policy.data_category)
    assert plan is not None and re.fullmatch(r"[a-z_]+", plan)  # it names a temp table
    result.detail = counts.note
    if not counts.due:
        return None
    purge = f"_retention_purge_{plan}"
    run.conn.execute(
        f"create or replace temp table {purge} as select session_id from {SESSIONS_TABLE} "
        "where plan = $plan and last_event_at < $cutoff and purgeable",
        {"plan": plan, "cutoff": policy.cutoff(run.as_of)},
    )
    result.acted_on += counts.due

    def apply() -> None:
        run.conn.execute(
            f"""insert into governance.retention_purged_rows
                select 'transcription_events', _source_file, count(*), $now, $run_id
                from raw.transcription_events where session_id in (select session_id from {purge})
                group by _source_file""",
            {"now": run.now, "run_id": run.retention_run_id},
        )
        run.conn.execute(f"delete from raw.transcription_events where session_id in (select session_id from {purge})")

    return _WarehouseStep(apply, counts.due)


# --- audit records ----------------------------------------------------------------------------

WAREHOUSE_TRAIL_NOTE = "archive of the warehouse trail is done by the audit archive (not yet built)"


def _count_warehouse_audit(conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
                           memo: dict[str, Any]) -> _Counts:
    if not table_exists(conn, "audit", "audit_logs"):
        return _Counts(0, 0, "audit.audit_logs does not exist yet")
    due = _one(conn, "select count(*) from audit.audit_logs where occurred_at < $cutoff",
               {"cutoff": policy.cutoff(as_of)})[0]
    return _Counts(due, 0, WAREHOUSE_TRAIL_NOTE if due else "no record past the policy")


def _act_warehouse_audit(run: _Run, policy: RetentionPolicy, result: PolicyResult, counts: _Counts) -> _WarehouseStep | None:
    # Never deleted here: removing a record would break the hash chain (spec §5).
    result.detail = counts.note
    return None


def _count_platform_audit(conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
                          memo: dict[str, Any]) -> _Counts:
    if not table_exists(conn, "raw", "audit_events"):
        return _Counts(0, 0, "raw.audit_events is not loaded yet")
    due = _one(conn, "select count(*) from raw.audit_events where occurred_at < $cutoff",
               {"cutoff": policy.cutoff(as_of)})[0]
    return _Counts(due, due, f"{due} events past the policy")


def _act_platform_audit(run: _Run, policy: RetentionPolicy, result: PolicyResult, counts: _Counts) -> _WarehouseStep | None:
    cutoff = policy.cutoff(run.as_of)
    result.detail = counts.note
    if not counts.due or cutoff is None:
        return None
    folder = run.settings.home / "archive" / policy.data_category
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.retention_run_id}.parquet"
    # raw.audit_events holds no PII (ip_address is in the vault, where erasure finds it).
    run.conn.execute(f"copy (select * from raw.audit_events where occurred_at < {_ts_literal(cutoff)}) "
                     f"to '{path}' (format parquet)")
    result.acted_on += counts.due
    result.detail = f"{counts.due} events archived to {path}"

    def apply() -> None:
        params = {"cutoff": cutoff, "now": run.now, "run_id": run.retention_run_id}
        run.conn.execute(
            """insert into governance.retention_purged_rows
               select 'audit_events', _source_file, count(*), $now, $run_id
               from raw.audit_events where occurred_at < $cutoff group by _source_file""",
            params,
        )
        run.conn.execute("delete from raw.audit_events where occurred_at < $cutoff", {"cutoff": cutoff})

    return _WarehouseStep(apply, counts.due, undo=lambda: path.unlink(missing_ok=True))


# --- the run ----------------------------------------------------------------------------------


@dataclass
class _WarehouseStep:
    """A policy's warehouse changes, applied inside the run's one warehouse transaction."""

    apply: Callable[[], None]
    count: int  # items it acts on: moved from acted_on to failed if it fails
    undo: Callable[[], None] | None = None  # removes a file written for it when it does not commit


@dataclass
class _Run:
    settings: Settings
    conn: duckdb.DuckDBPyConnection
    as_of: datetime
    now: datetime
    retention_run_id: str
    audit_run_id: str
    eraser: Eraser
    actor: str | None


Counter = Callable[[duckdb.DuckDBPyConnection, RetentionPolicy, datetime, dict[str, Any]], _Counts]
ActOn = Callable[[_Run, RetentionPolicy, PolicyResult, _Counts], "_WarehouseStep | None"]


@dataclass(frozen=True)
class _Kind:
    count: Counter
    act: ActOn
    actions: frozenset[str]  # actions that do something for this kind (besides `retain`)


KINDS = {
    "soft_deleted_pii": _Kind(_count_soft_deleted, _act_soft_deleted, frozenset({"anonymize", "delete"})),
    "quarantine_raw_text": _Kind(_count_quarantine, _act_quarantine, frozenset({"delete"})),
    "session_detail": _Kind(_count_sessions, _act_sessions, frozenset({"delete"})),
    "warehouse_audit_logs": _Kind(_count_warehouse_audit, _act_warehouse_audit, frozenset({"archive"})),
    "platform_audit_events": _Kind(_count_platform_audit, _act_platform_audit, frozenset({"archive"})),
}


def _kind_of(category: str) -> str | None:
    if category in SOFT_DELETE_SUBJECTS:
        return "soft_deleted_pii"
    if _session_plan(category):
        return "session_detail"
    return category if category in KINDS else None


def _known_categories() -> list[str]:
    return [*SOFT_DELETE_SUBJECTS, "quarantine_raw_text", *(SESSION_PREFIX + p for p in _plans()),
            "warehouse_audit_logs", "platform_audit_events"]


def _problem(policy: RetentionPolicy, seen: set[str]) -> str | None:
    """Why a policy row cannot be applied at all, or None."""
    kind = _kind_of(policy.data_category)
    if kind is None:
        return (f"unknown data category {policy.data_category!r}: retention knows "
                f"{', '.join(_known_categories())}")
    if policy.data_category in seen:
        return f"a second policy for {policy.data_category}: only the first is applied"
    if policy.problem:
        return policy.problem
    allowed = KINDS[kind].actions | {"retain"}
    if policy.action not in allowed:
        return f"action {policy.action!r} is not supported for {policy.data_category}; use one of {', '.join(sorted(allowed))}"
    return None


def _acts(policy: RetentionPolicy) -> bool:
    return policy.action != "retain" and policy.retention_days is not None


def _evaluate(run: _Run | None, conn: duckdb.DuckDBPyConnection, policy: RetentionPolicy, as_of: datetime,
              result: PolicyResult, memo: dict[str, Any]) -> _WarehouseStep | None:
    """Fill one policy's result; with `run` (a real run) act on it. Exceptions propagate."""
    kind = KINDS[_kind_of(policy.data_category) or ""]
    counts = kind.count(conn, policy, as_of, memo)
    result.evaluated = counts.evaluated
    result.due = counts.due if _acts(policy) else 0
    if not _acts(policy):
        result.detail = "unlimited retention" if policy.retention_days is None else "retained by policy"
        result.detail += f"; {counts.note}" if counts.note else ""
        return None
    if run is None:
        result.acted_on = counts.due
        result.detail = counts.note
        return None
    return kind.act(run, policy, result, counts)


def _new_run_id(now: datetime) -> str:
    return f"ret_{now:%Y%m%dT%H%M%S}Z_{secrets.token_hex(3)}"


def enforce_retention(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    as_of: datetime,
    dry_run: bool,
    run_id: str | None = None,
    eraser: Eraser | None = None,
    actor: str | None = None,
) -> RetentionReport:
    """Apply every retention policy as of `as_of`; one result per policy (see the module docstring).

    `run_id` is the orchestrating run (Dagster's), kept in the audit record; the retention run gets
    its own id. A dry run reports what a real run would act on and changes nothing.
    """
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    report = RetentionReport(as_of=as_of, dry_run=dry_run, retention_run_id=None if dry_run else _new_run_id(now))
    run: _Run | None = None
    if report.retention_run_id is not None:
        from dagster_project.warehouse import ensure_schema  # imported here: the warehouse module imports governance

        ensure_schema(conn)
        run = _Run(settings, conn, as_of, now, report.retention_run_id, run_id or report.retention_run_id,
                   eraser or default_eraser, actor)
    steps: dict[str, _WarehouseStep] = {}
    seen: set[str] = set()
    memo: dict[str, Any] = {}
    for policy in load_policies(conn):
        result = PolicyResult(policy.data_category, policy.action, policy.retention_days, policy.grace_days)
        report.results.append(result)
        problem = _problem(policy, seen)
        seen.add(policy.data_category)
        if problem:
            result.fail(problem)
            continue
        try:
            step = _evaluate(run, conn, policy, as_of, result, memo)
        except Exception as exc:  # one policy's failure must not stop the others
            log.exception("retention policy %s failed", policy.data_category)
            _rollback_if_open(conn)
            result.fail(f"{type(exc).__name__}: {exc}", failed=max(result.due - result.acted_on, result.failed))
            continue
        if step is not None:
            steps[policy.data_category] = step
    if run is not None:
        _commit(run, report, steps)
    return report


def _rollback_if_open(conn: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # raised when no transaction was open
        conn.execute("rollback")


def _commit(run: _Run, report: RetentionReport, steps: dict[str, _WarehouseStep]) -> None:
    """One warehouse transaction: every policy's changes, the retention_runs rows and the audit record.

    A policy whose statements fail is dropped and the transaction retried without it.
    """
    while True:
        failing: str | None = None
        run.conn.execute("begin transaction")
        try:
            for category, step in steps.items():
                failing = category
                step.apply()
            failing = None
            _write_run(run, report)
            run.conn.execute("commit")
            return
        except BaseException as exc:
            run.conn.execute("rollback")
            if failing is None or not isinstance(exc, Exception):
                for step in steps.values():
                    if step.undo:
                        step.undo()
                raise
            log.exception("retention policy %s failed in the warehouse transaction", failing)
            step = steps.pop(failing)
            if step.undo:
                step.undo()
            result = report.result(failing)
            result.acted_on -= step.count
            result.fail(f"{type(exc).__name__}: {exc}", failed=result.failed + step.count)


def _write_run(run: _Run, report: RetentionReport) -> None:
    for r in report.results:
        run.conn.execute(
            "insert into governance.retention_runs values (?, ?, ?, false, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.retention_run_id, run.now, run.as_of, r.data_category, r.action, r.retention_days, r.grace_days,
             r.evaluated, r.acted_on, r.failed, r.status, r.detail],
        )
    record(
        run.conn,
        "retention_run",
        entity_type="retention_run",
        entity_id=run.retention_run_id,
        counts={r.data_category: {"action": r.action, "evaluated": r.evaluated, "acted_on": r.acted_on,
                                  "failed": r.failed, "status": r.status} for r in report.results},
        after={"as_of": run.as_of.isoformat(), "policies": len(report.results),
               "failed_policies": len(report.failed_policies)},
        run_id=run.audit_run_id,
        actor=run.actor,
    )


def retention_violations(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> list[tuple[str, int]]:
    """Per acting policy, how many items are past their retention right now (0 after a real run).

    Units: subjects with PII left, quarantined texts, purgeable sessions, platform audit events.
    The warehouse's own trail is left out: the audit archive archives it, never retention.
    """
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    memo: dict[str, Any] = {}
    for policy in load_policies(conn):
        problem = _problem(policy, seen)
        seen.add(policy.data_category)
        if problem or not _acts(policy) or policy.data_category == "warehouse_audit_logs":
            continue
        kind = KINDS[_kind_of(policy.data_category) or ""]
        out.append((policy.data_category, kind.count(conn, policy, as_of, memo).due))
    return out
