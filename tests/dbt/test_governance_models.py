"""End-to-end tests of the dbt governance models (spec §2.2, §4.1, §4.4, §4.6) on a small warehouse.

One temporary DuckDB file gets hand-made CDC changes of users, clients and coach profiles (soft
deletes, a restore, hard deletes, plan changes, two changes at the same instant), governance
state written as the Python side writes it (erasures, request status, a retention run) and
data-subject requests of various ages; then one `dbt build` of the governance models and
everything upstream. The marts are read once, right after the build.

Request ages are relative to the wall clock, because marts.gdpr_requests is a view whose overdue
flag is evaluated at query time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from dagster_project.contracts import load_contracts
from dagster_project.warehouse import ensure_schema
from tests.dbt.test_usage_models import _ts, client_change, dbt_build, insert_raw, user_change

NOW = datetime.now(UTC)
GOVERNANCE_MARTS = (
    "dim_users",
    "dim_users_history",
    "dim_clients",
    "dim_clients_history",
    "dim_coach_profiles",
    "dim_coach_profiles_history",
    "gdpr_requests",
    "retention_runs",
)


# ---------------------------------------------------------------------------------------------
# raw rows


def soft_deleted(change: dict, deleted_at: str) -> dict:
    return {**change, "is_active": False, "deleted_at": _ts(deleted_at), "deleted_by": "u_admin"}


def profile_change(change_id, changed_at, op, coach_profile_id, user_id, **overrides) -> dict:
    return {
        "change_id": change_id,
        "changed_at": _ts(changed_at),
        "op": op,
        "coach_profile_id": coach_profile_id,
        "user_id": user_id,
        "city": "Taipei",
        "country": "TW",
        "timezone": "Asia/Taipei",
        "is_public": True,
        "is_active": op != "delete",
        "deleted_at": None,
        **overrides,
    }


USERS = [
    # plan history: free -> student -> pro
    user_change("uc01", "2025-01-01T00:00:00+00:00", "insert", "u_plan", "free"),
    user_change("uc02", "2025-02-01T00:00:00+00:00", "update", "u_plan", "student"),
    user_change("uc03", "2025-03-01T00:00:00+00:00", "update", "u_plan", "pro"),
    # hard delete whose row carries no plan: the last known plan is kept
    user_change("uc04", "2025-01-01T00:00:00+00:00", "insert", "u_gone", "pro"),
    user_change("uc05", "2025-02-15T00:00:00+00:00", "delete", "u_gone", None),
    # erased user (governance.erasures)
    user_change("uc06", "2025-01-01T00:00:00+00:00", "insert", "u_erased", "free"),
    # two changes at the same instant collapse into the last one (by change_id)
    user_change("uc07", "2025-01-05T00:00:00+00:00", "insert", "u_tie", "student"),
    user_change("uc08", "2025-01-05T00:00:00+00:00", "update", "u_tie", "pro"),
]

CLIENTS = [
    client_change("cc01", "2025-01-01T00:00:00+00:00", "insert", "c_soft", "u_plan"),
    soft_deleted(
        client_change("cc02", "2025-02-01T00:00:00+00:00", "update", "c_soft", "u_plan"), "2025-02-01T00:00:00+00:00"
    ),
    # soft delete, then restore
    client_change("cc03", "2025-01-01T00:00:00+00:00", "insert", "c_restored", "u_plan"),
    soft_deleted(
        client_change("cc04", "2025-02-01T00:00:00+00:00", "update", "c_restored", "u_plan"),
        "2025-02-01T00:00:00+00:00",
    ),
    client_change("cc05", "2025-02-10T00:00:00+00:00", "update", "c_restored", "u_plan"),
    # soft delete, then hard delete (the delete row carries only ids)
    client_change("cc06", "2025-01-01T00:00:00+00:00", "insert", "c_hard", "u_plan"),
    soft_deleted(
        client_change("cc07", "2025-02-01T00:00:00+00:00", "update", "c_hard", "u_plan"), "2025-02-01T00:00:00+00:00"
    ),
    {
        **client_change("cc08", "2025-03-01T00:00:00+00:00", "delete", "c_hard", "u_plan"),
        "source": None,
        "client_type": None,
        "status": None,
        "is_active": None,
    },
    # soft-deleted, then erased by retention
    client_change("cc09", "2025-01-01T00:00:00+00:00", "insert", "c_erased", "u_plan"),
    soft_deleted(
        client_change("cc10", "2025-02-01T00:00:00+00:00", "update", "c_erased", "u_plan"), "2025-02-01T00:00:00+00:00"
    ),
    # hard-deleted and erased: anonymized wins over deleted
    client_change("cc11", "2025-01-01T00:00:00+00:00", "insert", "c_hard_erased", "u_plan"),
    client_change("cc12", "2025-02-01T00:00:00+00:00", "delete", "c_hard_erased", "u_plan"),
]

COACH_PROFILES = [
    profile_change("pc01", "2025-01-01T00:00:00+00:00", "insert", "cp_active", "u_plan"),
    profile_change("pc02", "2025-01-01T00:00:00+00:00", "insert", "cp_erased", "u_erased"),
    profile_change("pc03", "2025-01-01T00:00:00+00:00", "insert", "cp_soft", "u_tie"),
    profile_change(
        "pc04",
        "2025-02-01T00:00:00+00:00",
        "update",
        "cp_soft",
        "u_tie",
        is_active=False,
        deleted_at=_ts("2025-02-01T00:00:00+00:00"),
    ),
]

ERASURES = [
    ("user", "u_erased", _ts("2025-03-20T00:00:00+00:00"), "r_done", "gdpr_request"),
    ("client", "c_erased", _ts("2025-03-05T00:00:00+00:00"), None, "retention:soft_deleted_client_pii"),
    ("client", "c_hard_erased", _ts("2025-03-05T00:00:00+00:00"), None, "retention:soft_deleted_client_pii"),
]


def request(request_id, age_days, request_type="erasure", subject_id="u_erased") -> dict:
    return {
        "request_id": request_id,
        "requested_at": NOW - timedelta(days=age_days),
        "request_type": request_type,
        "subject_type": "user",
        "subject_id": subject_id,
        "requested_by": subject_id,
    }


GDPR_REQUESTS = [
    request("r_old_pending", 40),
    request("r_new_pending", 2, "access", "u_plan"),
    request("r_done", 40),
    request("r_done_late", 50, "access", "u_plan"),
    request("r_old_failed", 40, "portability", "u_plan"),
]


def request_status(request_id, status, requested_days_ago, completed_after_days=None, attempts=1) -> tuple:
    requested_at = NOW - timedelta(days=requested_days_ago)
    completed_at = None if completed_after_days is None else requested_at + timedelta(days=completed_after_days)
    return (
        request_id,
        "erasure",
        "user",
        "u_erased",
        status,
        {"completed": "erased", "failed": None}[status],
        attempts,
        "boom" if status == "failed" else None,
        requested_at + timedelta(hours=1),
        completed_at or requested_at + timedelta(hours=2),
        completed_at,
        None,
        3 if status == "completed" else None,
    )


REQUEST_STATUS = [
    request_status("r_done", "completed", 40, completed_after_days=10),
    request_status("r_done_late", "completed", 50, completed_after_days=35),
    request_status("r_old_failed", "failed", 40, attempts=2),
]


# ---------------------------------------------------------------------------------------------
# fixture: one warehouse, one build


@pytest.fixture(scope="module")
def marts(tmp_path_factory) -> dict[str, list[dict]]:
    work_dir = tmp_path_factory.mktemp("governance_models")
    db_path = work_dir / "warehouse.duckdb"
    with duckdb.connect(str(db_path)) as conn:
        conn.execute(f"attach '{work_dir / 'vault.duckdb'}' as vault")
        ensure_schema(conn)
        insert_raw(conn, "users", 1, USERS)
        insert_raw(conn, "clients", 1, CLIENTS)
        insert_raw(conn, "coach_profiles", 1, COACH_PROFILES)
        insert_raw(conn, "gdpr_requests", 1, GDPR_REQUESTS)
        conn.execute(
            'update raw.gdpr_requests set _extra_fields = \'{"reason": "left the platform"}\' '
            "where request_id = 'r_old_pending'"
        )
        conn.executemany("insert into governance.erasures values (?, ?, ?, ?, ?, 1, 0, 0)", [list(e) for e in ERASURES])
        conn.executemany(
            "insert into governance.gdpr_request_status values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [list(s) for s in REQUEST_STATUS],
        )
        conn.execute(
            "insert into governance.retention_runs values ('rr1', ?, ?, false, 'quarantine_raw_text', "
            "'delete', 30, 0, 4, 1, 0, 'succeeded', null)",
            [NOW, NOW],
        )

    dbt_build(db_path, work_dir, "--select", "+path:models/marts/governance", "path:seeds/data_retention_policies.csv")

    with duckdb.connect(str(db_path), read_only=True) as conn:

        def rows(sql: str) -> list[dict]:
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        result = {name: rows(f"select * from marts.{name}") for name in GOVERNANCE_MARTS}
        result["data_retention_policies"] = rows("select * from reference.data_retention_policies")
        result["column_names"] = rows(
            "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name in (" + ", ".join(f"'{name}'" for name in GOVERNANCE_MARTS) + ")"
        )
    return result


def by_key(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def history(marts: dict, table: str, key: str, entity_id: str) -> list[dict]:
    return sorted((r for r in marts[table] if r[key] == entity_id), key=lambda r: r["valid_from"])


# ---------------------------------------------------------------------------------------------
# lifecycle


def test_a_soft_deleted_client_is_archived(marts):
    client = by_key(marts["dim_clients"], "client_id")["c_soft"]
    assert client["lifecycle_status"] == "archived"
    assert client["is_active"] is False
    assert client["deleted_at"] == _ts("2025-02-01T00:00:00+00:00")
    assert client["is_hard_deleted"] is False
    assert client["change_count"] == 2


def test_a_restored_client_is_active_again_and_keeps_its_archived_version(marts):
    client = by_key(marts["dim_clients"], "client_id")["c_restored"]
    assert (client["lifecycle_status"], client["is_active"], client["deleted_at"]) == ("active", True, None)
    versions = history(marts, "dim_clients_history", "client_id", "c_restored")
    assert [v["lifecycle_status"] for v in versions] == ["active", "archived", "active"]
    assert [v["valid_to"] for v in versions] == [
        _ts("2025-02-01T00:00:00+00:00"),
        _ts("2025-02-10T00:00:00+00:00"),
        None,
    ]
    assert [v["is_current"] for v in versions] == [False, False, True]


def test_a_hard_deleted_client_stays_in_dim_clients_as_deleted(marts):
    client = by_key(marts["dim_clients"], "client_id")["c_hard"]
    assert client["lifecycle_status"] == "deleted"
    assert client["is_hard_deleted"] is True
    assert client["is_active"] is False
    assert client["hard_deleted_at"] == _ts("2025-03-01T00:00:00+00:00")
    # the soft delete's time is kept; the delete row's missing attributes are carried over
    assert client["deleted_at"] == _ts("2025-02-01T00:00:00+00:00")
    assert (client["client_source"], client["client_type"], client["client_status"]) == (
        "referral",
        "paid",
        "in_progress",
    )
    assert client["user_id"] == "u_plan"
    versions = history(marts, "dim_clients_history", "client_id", "c_hard")
    assert [v["lifecycle_status"] for v in versions] == ["active", "archived", "deleted"]


def test_a_hard_deleted_user_stays_in_dim_users_as_deleted_with_its_last_plan(marts):
    user = by_key(marts["dim_users"], "user_id")["u_gone"]
    assert user["lifecycle_status"] == "deleted"
    assert user["is_hard_deleted"] is True
    assert user["is_active"] is False
    assert user["deleted_at"] == _ts("2025-02-15T00:00:00+00:00")
    assert user["plan"] == "pro"
    assert user["user_role"] == "user"


def test_an_erased_client_is_anonymized_from_the_version_in_effect_at_erasure(marts):
    client = by_key(marts["dim_clients"], "client_id")["c_erased"]
    assert client["lifecycle_status"] == "anonymized"
    assert client["erased_at"] == _ts("2025-03-05T00:00:00+00:00")
    versions = history(marts, "dim_clients_history", "client_id", "c_erased")
    assert [v["lifecycle_status"] for v in versions] == ["active", "anonymized"]


def test_anonymized_takes_precedence_over_deleted(marts):
    client = by_key(marts["dim_clients"], "client_id")["c_hard_erased"]
    assert client["is_hard_deleted"] is True
    assert client["lifecycle_status"] == "anonymized"


def test_an_erased_user_and_the_coach_profile_of_that_user_are_anonymized(marts):
    assert by_key(marts["dim_users"], "user_id")["u_erased"]["lifecycle_status"] == "anonymized"
    profiles = by_key(marts["dim_coach_profiles"], "coach_profile_id")
    assert profiles["cp_erased"]["lifecycle_status"] == "anonymized"
    assert profiles["cp_erased"]["erased_at"] == _ts("2025-03-20T00:00:00+00:00")
    assert profiles["cp_active"]["lifecycle_status"] == "active"
    assert profiles["cp_soft"]["lifecycle_status"] == "archived"


def test_the_users_history_carries_the_plan_of_each_version(marts):
    versions = history(marts, "dim_users_history", "user_id", "u_plan")
    assert [(v["plan"], v["version_number"], v["is_current"]) for v in versions] == [
        ("free", 1, False),
        ("student", 2, False),
        ("pro", 3, True),
    ]
    assert [v["valid_from"] for v in versions[1:]] == [v["valid_to"] for v in versions[:-1]]
    user = by_key(marts["dim_users"], "user_id")["u_plan"]
    assert (user["plan"], user["change_count"], user["lifecycle_status"]) == ("pro", 3, "active")
    assert user["first_seen_at"] == _ts("2025-01-01T00:00:00+00:00")
    assert user["last_changed_at"] == _ts("2025-03-01T00:00:00+00:00")


def test_changes_at_the_same_instant_collapse_into_the_last_one(marts):
    versions = history(marts, "dim_users_history", "user_id", "u_tie")
    assert [(v["change_id"], v["plan"]) for v in versions] == [("uc08", "pro")]
    assert by_key(marts["dim_users"], "user_id")["u_tie"]["change_count"] == 2


def test_every_entity_ever_seen_has_exactly_one_current_version(marts):
    for table, key, expected in (
        ("dim_users", "user_id", {"u_plan", "u_gone", "u_erased", "u_tie"}),
        ("dim_clients", "client_id", {"c_soft", "c_restored", "c_hard", "c_erased", "c_hard_erased"}),
        ("dim_coach_profiles", "coach_profile_id", {"cp_active", "cp_erased", "cp_soft"}),
    ):
        assert sorted(r[key] for r in marts[table]) == sorted(expected)
        current = [r[key] for r in marts[f"{table}_history"] if r["is_current"]]
        assert sorted(current) == sorted(expected)


# ---------------------------------------------------------------------------------------------
# data-subject requests and retention


def test_a_request_open_for_40_days_without_status_is_pending_and_overdue(marts):
    req = by_key(marts["gdpr_requests"], "request_id")["r_old_pending"]
    assert (req["status"], req["is_overdue"], req["is_completed_late"], req["attempts"]) == ("pending", True, False, 0)
    assert req["due_at"] == req["requested_at"] + timedelta(days=30)
    assert req["reason"] == "left the platform"


def test_a_recent_pending_request_is_not_overdue(marts):
    req = by_key(marts["gdpr_requests"], "request_id")["r_new_pending"]
    assert (req["status"], req["is_overdue"], req["reason"]) == ("pending", False, None)


def test_a_completed_request_is_not_overdue_and_late_completion_is_flagged(marts):
    requests = by_key(marts["gdpr_requests"], "request_id")
    on_time, late = requests["r_done"], requests["r_done_late"]
    assert (on_time["status"], on_time["outcome"], on_time["is_overdue"], on_time["is_completed_late"]) == (
        "completed",
        "erased",
        False,
        False,
    )
    assert on_time["completed_at"] is not None
    assert (late["status"], late["is_overdue"], late["is_completed_late"]) == ("completed", False, True)


def test_a_failed_request_past_its_due_date_is_overdue(marts):
    req = by_key(marts["gdpr_requests"], "request_id")["r_old_failed"]
    assert (req["status"], req["attempts"], req["last_error"], req["is_overdue"]) == ("failed", 2, "boom", True)


def test_retention_runs_and_policies_are_exposed(marts):
    assert [(r["retention_run_id"], r["data_category"], r["retention_action"]) for r in marts["retention_runs"]] == [
        ("rr1", "quarantine_raw_text", "delete")
    ]
    policies = by_key(marts["data_retention_policies"], "data_category")
    assert len(policies) == 10
    assert (policies["soft_deleted_user_pii"]["retention_days"], policies["soft_deleted_user_pii"]["action"]) == (
        30,
        "anonymize",
    )
    assert policies["session_detail_coaching_school"]["retention_days"] is None
    assert policies["platform_audit_events"]["action"] == "archive"


# ---------------------------------------------------------------------------------------------
# no PII


def test_no_governance_mart_has_a_column_the_contracts_classify_as_pii_or_sensitive(marts):
    protected = {f.name for contract in load_contracts().values() for f in contract.protected_fields}
    assert protected  # the contracts do classify fields (name, email, ...)
    leaked = {(r["table_name"], r["column_name"]) for r in marts["column_names"] if r["column_name"] in protected}
    assert not leaked
    assert {r["table_name"] for r in marts["column_names"]} == set(GOVERNANCE_MARTS)
