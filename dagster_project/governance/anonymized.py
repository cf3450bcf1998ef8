"""Schema `anonymized`: the marts with keyed pseudonyms in place of ids, no PII, k-anonymous aggregates.

Spec §4.3. Every id becomes its HMAC-SHA256 pseudonym (`pseudonyms.pseudonym`) under the secret from
COACHWH_PSEUDONYM_KEY. The key never enters the warehouse: the map `governance.pseudonyms` is
filled by set-based SQL with the key's HMAC pads bound as parameters, and the views only join that
map, so no view text holds a key. The map is incremental (only ids not mapped yet are hashed; in a
mart stamped with `computed_at`, only the ids of rows computed since the last refresh are even
read) and rebuilt whole when the key's fingerprint changes.

Row-level views keep every column of their mart except PII (contract fields classified pii or
sensitive) and the columns in `OMITTED_COLUMNS`; an id-like column (`id`, `*_id`, `*_key`, `*_sk`)
that `ID_COLUMNS` does not map fails the build, so a new id column can never leak by accident.

Aggregates suppress small groups by leaving them out: a group with fewer than k distinct users
(Settings.k_anonymity, COACHWH_K_ANONYMITY, 5 by default) has no row at all. k is written into the
view text as a literal at build time (it is not secret), so a changed k takes effect on the next build.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

from dagster_project.audit.trail import record
from dagster_project.config import Settings
from dagster_project.contracts import load_contracts
from dagster_project.errors import CoachwhError
from dagster_project.governance.pseudonyms import hmac_pads, key_fingerprint, load_key, sql_pseudonym
from dagster_project.governance.tables import ensure_governance_tables
from dagster_project.warehouse import transaction

log = logging.getLogger(__name__)

SCHEMA = "anonymized"
MARTS_SCHEMA = "marts"
# The column that stamps each mart row with the build that computed it (marts.usage_logs).
WATERMARK_COLUMN = "computed_at"

# The marts with a row-level view of the same name in `anonymized`; missing ones are skipped
# (the dimensions arrive later than the usage marts).
SOURCE_MARTS: tuple[str, ...] = (
    "usage_logs",
    "usage_analytics",
    "billing_statements",
    "dim_users",
    "dim_clients",
    "dim_coach_profiles",
    "dim_users_history",
    "dim_clients_history",
    "dim_coach_profiles_history",
)

# Which kind of id each id column holds: the kind is part of the HMAC input, so equal values of
# different kinds get unrelated pseudonyms, and a column keeps joining to the columns of its kind.
ID_COLUMNS: Mapping[str, str] = {
    "user_id": "user",
    "deleted_by_user_id": "user",
    "deleted_by": "user",
    "actor_user_id": "user",
    "client_id": "client",
    "session_id": "session",
    "attempt_id": "attempt",
    "parent_attempt_id": "attempt",
    "usage_log_id": "usage_log",
    "parent_usage_log_id": "usage_log",
    "coach_profile_id": "coach_profile",
    "request_id": "request",
    "change_id": "change",
    "last_change_id": "change",
}

# Columns left out of every view on purpose, with the reason.
OMITTED_COLUMNS: Mapping[str, str] = {
    "source_batch_id": "ingestion watermark, of no use to analysts",
    "users_batch_id": "ingestion watermark, of no use to analysts",
    "batch_id": "ingestion batch number, of no use to analysts",
    "statement_digest": "SHA-256 over the raw user id and usage log ids: a guessed id could be checked against it",
}

_ID_SUFFIXES = ("_id", "_key", "_sk")


@dataclass(frozen=True)
class Aggregate:
    """A k-anonymous aggregate view over one mart: `select` is its column list, `group_by` its keys."""

    name: str
    mart: str
    group_by: tuple[str, ...]
    select: str
    description: str


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate(
        name="usage_by_month_plan",
        mart="usage_logs",
        group_by=("usage_month", "plan_at_usage", "stt_provider"),
        select=(
            "count(*) as transcriptions, "
            "cast(ceil(sum(case when is_billable then duration_seconds else 0 end) / 60) as bigint) "
            "as billable_minutes, "
            "sum(cost_usd) as total_cost_usd"
        ),
        description="Usage logs per UTC month, plan at usage and STT provider",
    ),
    Aggregate(
        name="usage_by_month_language",
        mart="usage_logs",
        group_by=("usage_month", "language"),
        select=(
            "count(*) as transcriptions, "
            "sum(duration_seconds) as total_seconds, "
            "cast(ceil(sum(case when is_billable then duration_seconds else 0 end) / 60) as bigint) "
            "as billable_minutes, "
            "sum(cost_usd) as total_cost_usd"
        ),
        description="Usage logs per UTC month and language",
    ),
    Aggregate(
        name="statements_by_month_plan",
        mart="billing_statements",
        group_by=("billing_month", "plan"),
        select=(
            "count(*) as statements, "
            "bool_and(is_closed) as is_closed, "
            "sum(billable_minutes) as billable_minutes, "
            "sum(minutes_over_quota) as minutes_over_quota, "
            "sum(subscription_fee_usd) as subscription_fee_usd, "
            "sum(usage_charges_usd) as usage_charges_usd, "
            "sum(adjustments_usd) as adjustments_usd, "
            "sum(total_usd) as total_usd"
        ),
        description="Billing statements per billing month and plan",
    ),
)


@dataclass(frozen=True)
class ViewPlan:
    """One row-level view: its mart's columns in order, each kept as is or replaced by a pseudonym."""

    mart: str
    kept: tuple[str, ...]
    id_columns: Mapping[str, str]
    columns: tuple[str, ...]
    omitted: tuple[str, ...]


@dataclass(frozen=True)
class AnonymizedReport:
    views: tuple[str, ...]
    skipped_marts: tuple[str, ...]
    pseudonyms_added: Mapping[str, int]
    map_rebuilt: bool
    k: int
    key_fingerprint: str
    omitted_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def total_pseudonyms_added(self) -> int:
        return sum(self.pseudonyms_added.values())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_id_like(column: str) -> bool:
    lowered = column.lower()
    return lowered == "id" or lowered.endswith(_ID_SUFFIXES)


def protected_columns() -> frozenset[str]:
    """Names of every field a data contract classifies pii or sensitive: never in a view."""
    return frozenset(f.name for c in load_contracts().values() for f in c.protected_fields)


def mart_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The columns, in order, of each source mart that exists in the warehouse file."""
    rows = conn.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and list_contains(?, table_name) "
        "order by table_name, ordinal_position",
        [MARTS_SCHEMA, list(SOURCE_MARTS)],
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def plan_view(mart: str, columns: list[str], protected: frozenset[str]) -> ViewPlan:
    """Classify each column of a mart; an id-like column with no kind raises (nothing leaks by default)."""
    kept: list[str] = []
    ids: dict[str, str] = {}
    shown: list[str] = []
    omitted: list[str] = []
    for column in columns:
        lowered = column.lower()
        if column in protected or lowered in protected or lowered in OMITTED_COLUMNS:
            omitted.append(column)
        elif lowered in ID_COLUMNS:
            ids[column] = ID_COLUMNS[lowered]
            shown.append(column)
        elif _is_id_like(column):
            raise CoachwhError(
                f"{MARTS_SCHEMA}.{mart}.{column} looks like an id but has no pseudonym kind: add it to ID_COLUMNS "
                f"(or OMITTED_COLUMNS) in dagster_project/governance/anonymized.py; anonymized views not built"
            )
        else:
            kept.append(column)
            shown.append(column)
    return ViewPlan(mart, tuple(kept), ids, tuple(shown), tuple(omitted))


def view_sql(plan: ViewPlan) -> str:
    """`create or replace view`: ids joined to their pseudonyms, other columns as they are."""
    select: list[str] = []
    joins: list[str] = []
    for position, column in enumerate(plan.columns):
        kind = plan.id_columns.get(column)
        if kind is None:
            select.append(f"src.{_quote(column)}")
            continue
        alias = f"p{position}"
        select.append(f"{alias}.pseudonym as {_quote(column)}")
        # A left join: a row whose id is not mapped yet (marts rebuilt after this refresh) shows a
        # null id rather than disappearing or showing the raw value.
        joins.append(
            f"left join governance.pseudonyms as {alias} on {alias}.id_kind = '{kind}' "
            f"and {alias}.id_value = cast(src.{_quote(column)} as varchar)"
        )
    return (
        f"create or replace view {SCHEMA}.{_quote(plan.mart)} as\nselect\n    "
        + ",\n    ".join(select)
        + f"\nfrom {MARTS_SCHEMA}.{_quote(plan.mart)} as src\n"
        + "\n".join(joins)
    )


def aggregate_sql(aggregate: Aggregate, k: int) -> str:
    """The aggregate's view: groups with fewer than k distinct users are left out (HAVING)."""
    keys = ", ".join(_quote(c) for c in aggregate.group_by)
    return (
        f"create or replace view {SCHEMA}.{_quote(aggregate.name)} as\n"
        f"select {keys}, count(distinct user_id) as distinct_users, {aggregate.select}\n"
        f"from {MARTS_SCHEMA}.{_quote(aggregate.mart)}\n"
        f"group by {keys}\n"
        f"having count(distinct user_id) >= {int(k)}"
    )


def _id_sources(plans: list[ViewPlan]) -> dict[str, list[tuple[str, str]]]:
    """For each id kind, the (mart, column) pairs whose values need a pseudonym."""
    sources: dict[str, list[tuple[str, str]]] = {}
    for plan in plans:
        for column, kind in plan.id_columns.items():
            sources.setdefault(kind, []).append((plan.mart, column))
    return sources


def _reset_map_if_key_changed(conn: duckdb.DuckDBPyConnection, fingerprint: str) -> bool:
    stale = conn.execute(
        "select count(*) from governance.pseudonyms where key_fingerprint <> ?", [fingerprint]
    ).fetchall()[0][0]
    if stale:
        # Pseudonyms under an old key are useless (and would mix with new ones): start again.
        conn.execute("delete from governance.pseudonyms")
    return bool(stale)


def _map_new_ids(
    conn: duckdb.DuckDBPyConnection,
    kind: str,
    sources: list[tuple[str, str]],
    key: bytes,
    fingerprint: str,
    read_since: Mapping[str, object] | None = None,
) -> int:
    """Insert the pseudonyms of this kind's ids not mapped yet: one set-based statement.

    `read_since` maps a mart stamped with computed_at to the watermark of the last refresh: its
    older rows were mapped then, so only rows computed after it are read.
    """
    read_since = read_since or {}
    params: dict[str, object] = {}
    selects = []
    for mart, column in sources:
        select = (f"select cast({_quote(column)} as varchar) as id_value from {MARTS_SCHEMA}.{_quote(mart)} "
                  f"where {_quote(column)} is not null")
        if mart in read_since:
            name = f"since_{len(params)}"
            params[name] = read_since[mart]
            select += f" and {WATERMARK_COLUMN} > ${name}"
        selects.append(select)
    union = "\n    union all\n    ".join(selects)
    opad, ipad = hmac_pads(key)
    sql = f"""
        insert into governance.pseudonyms (id_kind, id_value, pseudonym, key_fingerprint)
        select $kind, ids.id_value, {sql_pseudonym('ids.id_value', kind)}, $fingerprint
        from (
            select distinct id_value from (
            {union}
            )
        ) as ids
        where not exists (
            select 1 from governance.pseudonyms as mapped
            where mapped.id_kind = $kind and mapped.id_value = ids.id_value
        )
    """
    result = conn.execute(
        sql, {"kind": kind, "fingerprint": fingerprint, "opad": opad, "ipad": ipad, **params}
    ).fetchall()
    return int(result[0][0]) if result else 0


def _watermarks(conn: duckdb.DuckDBPyConnection, fingerprint: str) -> dict[str, object]:
    """Per stamped mart, the computed_at through which the map (under this key) has read it."""
    rows = conn.execute(
        "select mart, computed_through from governance.pseudonym_watermarks where key_fingerprint = ?", [fingerprint]
    ).fetchall()
    return dict(rows)


def _save_watermarks(conn: duckdb.DuckDBPyConnection, through: Mapping[str, object], fingerprint: str) -> None:
    conn.execute("delete from governance.pseudonym_watermarks")
    for mart, computed_through in through.items():
        if computed_through is not None:
            conn.execute("insert into governance.pseudonym_watermarks values (?, ?, ?)",
                         [mart, computed_through, fingerprint])


def _comment(conn: duckdb.DuckDBPyConnection, view: str, text: str) -> None:
    conn.execute(f"comment on view {SCHEMA}.{_quote(view)} is '{text.replace(chr(39), chr(39) * 2)}'")


def build_anonymized(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str | None = None,
    actor: str | None = None,
) -> AnonymizedReport:
    """Refresh the pseudonym map and (re)create every view of schema `anonymized`, audited.

    Raises CoachwhError before touching anything when the key is missing in production or a mart
    has an id-like column with no pseudonym kind.
    """
    key = load_key(settings)
    fingerprint = key_fingerprint(key)
    k = settings.k_anonymity
    protected = protected_columns()
    columns = mart_columns(conn)
    plans = [plan_view(mart, columns[mart], protected) for mart in SOURCE_MARTS if mart in columns]
    skipped = tuple(mart for mart in SOURCE_MARTS if mart not in columns)
    aggregates = [a for a in AGGREGATES if a.mart in columns]
    ensure_governance_tables(conn)

    with transaction(conn):
        conn.execute(f"create schema if not exists {SCHEMA}")
        rebuilt = _reset_map_if_key_changed(conn, fingerprint)
        # Read in this transaction before mapping, so every row computed up to it is mapped below.
        stamped = [plan.mart for plan in plans if WATERMARK_COLUMN in columns[plan.mart]]
        through = {
            mart: conn.execute(f"select max({WATERMARK_COLUMN}) from {MARTS_SCHEMA}.{_quote(mart)}").fetchall()[0][0]
            for mart in stamped
        }
        read_since = {} if rebuilt else _watermarks(conn, fingerprint)
        added = {
            kind: _map_new_ids(conn, kind, sources, key, fingerprint, read_since)
            for kind, sources in sorted(_id_sources(plans).items())
        }
        _save_watermarks(conn, through, fingerprint)
        views: list[str] = []
        for plan in plans:
            conn.execute(view_sql(plan))
            _comment(conn, plan.mart, f"{MARTS_SCHEMA}.{plan.mart} with keyed pseudonyms in place of ids, no PII")
            views.append(f"{SCHEMA}.{plan.mart}")
        for aggregate in aggregates:
            conn.execute(aggregate_sql(aggregate, k))
            _comment(conn, aggregate.name, f"{aggregate.description}; groups with fewer than {k} distinct users "
                                           f"are left out (k-anonymity)")
            views.append(f"{SCHEMA}.{aggregate.name}")
        # A view over a mart that is gone would only fail when queried: drop it now.
        for name in (*skipped, *(a.name for a in AGGREGATES if a.mart not in columns)):
            conn.execute(f"drop view if exists {SCHEMA}.{_quote(name)}")
        record(
            conn,
            "anonymized_refresh",
            entity_type="schema",
            entity_id=SCHEMA,
            counts={"views_built": len(views), "pseudonyms_added": sum(added.values()), "k_anonymity": k,
                    **{f"pseudonyms_added_{kind}": n for kind, n in added.items()}},
            after={"views": views, "skipped_marts": list(skipped), "map_rebuilt": rebuilt,
                   "key_fingerprint": fingerprint},
            run_id=run_id,
            actor=actor,
        )

    omitted = {plan.mart: plan.omitted for plan in plans if plan.omitted}
    for mart, names in omitted.items():
        log.info("anonymized.%s leaves out %s", mart, ", ".join(names))
    return AnonymizedReport(
        views=tuple(views),
        skipped_marts=skipped,
        pseudonyms_added=added,
        map_rebuilt=rebuilt,
        k=k,
        key_fingerprint=fingerprint,
        omitted_columns=omitted,
    )
