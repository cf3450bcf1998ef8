"""Two writers on one DuckDB file: the second waits, then fails with a message naming the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from dagster_project.errors import CoachwhError
from dagster_project.warehouse import open_connection

HOLDER = textwrap.dedent(
    """
    import sys, time
    from dagster_project.config import Settings
    from dagster_project.warehouse import open_connection
    conn = open_connection(Settings.from_env())
    conn.execute("create table if not exists held (x int)")
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
    conn.close()
    """
)


def _hold_lock(seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds)], env=os.environ.copy(),
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_writer_fails_with_a_message_naming_the_lock(settings):
    child = _hold_lock(20)
    try:
        with pytest.raises(CoachwhError, match="is locked by another process"):
            open_connection(settings, wait_seconds=1)
    finally:
        child.kill()
        child.wait()


def test_a_second_writer_waits_for_the_first_to_finish(settings):
    child = _hold_lock(2)
    started = time.monotonic()
    conn = open_connection(settings, wait_seconds=30)
    try:
        assert time.monotonic() - started >= 0.5
        assert conn.execute("select count(*) from held").fetchall() == [(0,)]
    finally:
        conn.close()
        child.wait()


def test_reading_a_warehouse_that_does_not_exist_says_how_to_build_it(settings):
    with pytest.raises(CoachwhError, match="coachwh run"):
        open_connection(settings, read_only=True)
