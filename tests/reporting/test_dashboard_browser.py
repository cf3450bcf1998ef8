"""The admin dashboard in headless Chromium: it loads offline without errors, every chart draws, and
the KPIs it shows for the default range and for another range equal SQL over the marts.

Skipped, with the reason, where Chromium cannot be installed; with CI=true a missing browser fails
the test instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from dagster_project.reporting.browser import (
    browser_unavailable_reason,
    chromium_page,
    measure_load_seconds,
    open_dashboard,
)
from dagster_project.warehouse import connection
from tests.reporting.dashboard_warehouse import DashboardWarehouse, dashboard_warehouse
from tests.reporting.test_dashboard_data import expected_display, expected_heavy_users, expected_kpis, page_data

LOAD_SANITY_SECONDS = 5.0  # a bound that only catches a broken page; the target (1 s) is the benchmark's


@pytest.fixture(scope="module")
def browser() -> None:
    reason = browser_unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the browser test cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def built(browser) -> DashboardWarehouse:
    warehouse = dashboard_warehouse()
    assert warehouse.report.returncode == 0, warehouse.report.stdout + warehouse.report.stderr
    return warehouse


@pytest.fixture(scope="module")
def loaded(built: DashboardWarehouse):
    """The page open in Chromium, with what happened while it loaded."""
    with chromium_page() as page:
        load = open_dashboard(page, built.html)
        print(f"\nadmin dashboard loaded in {load.load_seconds:.3f} s "
              f"({built.html.stat().st_size / 1e6:.1f} MB) in headless Chromium")
        yield page, load


def _shown_kpis(page: Any) -> dict[str, tuple[str, str]]:
    rows = page.eval_on_selector_all(
        "[data-kpi]", "nodes => nodes.map(n => [n.dataset.kpi, n.dataset.value, n.textContent])")
    return {key: (value, text) for key, value, text in rows}


def _assert_kpis_equal_sql(page: Any, built: DashboardWarehouse, start: str, end: str) -> None:
    with connection(built.settings(), read_only=True) as conn:
        expected = expected_kpis(conn, start, end)
    shown = _shown_kpis(page)
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert shown[key] == ("" if value is None else str(value), expected_display(key, value)), (start, end, key)


def test_a_cold_load_in_a_fresh_browser_is_measured(built):
    # First in the module: Playwright's sync API runs one browser session per thread at a time,
    # and `loaded` keeps its session open until the module ends.
    seconds = measure_load_seconds(built.html)
    print(f"\ncold load in a fresh headless Chromium: {seconds:.3f} s (target at benchmark scale: under 1 s)")
    assert 0 < seconds < LOAD_SANITY_SECONDS


def test_the_page_loads_offline_without_errors(loaded):
    _, load = loaded
    assert load.console_errors == [] and load.page_errors == []
    assert load.remote_requests == []
    assert 0 < load.load_seconds < LOAD_SANITY_SECONDS


def test_every_chart_has_drawn(loaded, built):
    page, _ = loaded
    charts = page.eval_on_selector_all("[data-chart]", """nodes => nodes.map(n => {
        const svg = n.querySelector('svg.main-svg');
        const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
        const drawn = Array.from(n.querySelectorAll('.cartesianlayer g.trace path'))
            .filter(p => (p.getAttribute('d') || '').length > 2);
        return [n.id, n.querySelectorAll('svg.main-svg').length, n.querySelectorAll('.cartesianlayer g.trace').length,
                drawn.length, box.width, box.height];
    })""")
    assert [c[0] for c in charts] == [c["id"] for c in page_data(built.html)["charts"]]
    for chart_id, svgs, traces, shapes, width, height in charts:
        assert svgs >= 1 and traces >= 1 and shapes >= 1 and width > 100 and height > 100, chart_id


def test_the_kpis_equal_sql_for_the_default_range_and_another_one(loaded, built):
    page, _ = loaded
    months = page_data(built.html)["months"]
    assert (page.input_value("#range-from"), page.input_value("#range-to")) == (months[0], months[-1])
    _assert_kpis_equal_sql(page, built, months[0], months[-1])

    page.select_option("#range-to", months[-2])
    page.select_option("#range-from", months[1] if len(months) > 2 else months[0])
    start, end = page.input_value("#range-from"), page.input_value("#range-to")
    assert (start, end) != (months[0], months[-1])
    _assert_kpis_equal_sql(page, built, start, end)
    # The trends follow the range: the monthly chart now has one bar per month of it.
    assert page.evaluate("document.getElementById('chart-types-monthly').data[0].x") == \
        [m for m in months if start <= m <= end]
    heavy = page.eval_on_selector_all("#heavy-rows [data-pseudonym]", "nodes => nodes.map(n => n.dataset.pseudonym)")
    with connection(built.settings(), read_only=True) as conn:
        assert heavy == [p for p, _ in expected_heavy_users(conn, start, end)][:25]

    page.click("#range-all")
    _assert_kpis_equal_sql(page, built, months[0], months[-1])


def test_a_screenshot_of_the_loaded_page_is_saved(loaded, built):
    page, load = loaded
    target = built.home / "reports" / "admin_dashboard.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
    assert load.console_errors == [] and load.page_errors == []  # nothing failed while the range changed
