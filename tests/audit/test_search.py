"""`coachwh audit search`: newest first, a person found by its id through its pseudonym, bounded limits."""

from __future__ import annotations

import pytest

from dagster_project.audit.trail import record
from dagster_project.cli import main
from dagster_project.governance.pseudonyms import load_key, pseudonym
from dagster_project.warehouse import transaction


@pytest.fixture
def trail(conn, settings):
    key = load_key(settings)
    with transaction(conn):
        record(conn, "gdpr_export", entity_type="client", entity_id=pseudonym(key, "client", "cli_7"), reason="asked")
        record(conn, "billing_close", entity_type="billing_month", entity_id="2026-10")
        record(conn, "gdpr_erasure", entity_type="client", entity_id=pseudonym(key, "client", "cli_7"), reason="erase")
        record(conn, "gdpr_erasure", entity_type="client", entity_id=pseudonym(key, "client", "cli_8"), reason="erase")
    conn.close()


def test_a_client_is_found_by_its_id_newest_first_and_no_other_client_shows(trail, capsys):
    assert main(["audit", "search", "--entity-type", "client", "--entity-id", "cli_7", "--since", "2026-01-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("|")[2].strip() for line in lines[2:-1]] == ["gdpr_erasure", "gdpr_export"]
    assert lines[-1] == "(2 rows)"


def test_the_limit_keeps_the_newest_and_must_be_between_1_and_1000(trail, capsys):
    assert main(["audit", "search", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "(1 rows)" in out and "gdpr_erasure" in out
    assert main(["audit", "search", "--limit", "1001"]) == 2
    assert "between 1 and 1000" in capsys.readouterr().err


def test_a_since_in_the_future_finds_nothing_and_a_bad_date_is_one_line(trail, capsys):
    assert main(["audit", "search", "--since", "2999-01-01"]) == 0
    assert "(0 rows)" in capsys.readouterr().out
    assert main(["audit", "search", "--since", "yesterday"]) == 2
    assert "--since 'yesterday' is not a date" in capsys.readouterr().err
