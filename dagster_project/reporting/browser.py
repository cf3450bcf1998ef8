"""Opening the dashboard in headless Chromium (Debian's `chromium`, driven by Playwright).

Used by the browser test and the benchmark. The browser runs with a fresh temporary profile and
every background service off, and the page is opened from disk: any request it makes to anything
but a file, data or blob URL is recorded (and fails, the page forbids it), so "no network" is
checked, not assumed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.errors import CoachwhError

DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
VIEWPORT = {"width": 1440, "height": 900}
READY_TIMEOUT_MS = 60_000
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_executable() -> Path | None:
    """The Chromium to drive: COACHWH_CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH."""
    for candidate in (os.environ.get("COACHWH_CHROMIUM"), str(DEFAULT_CHROMIUM), shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def browser_unavailable_reason() -> str | None:
    """Why the browser cannot run here (None when it can): no Chromium, or no Playwright."""
    if chromium_executable() is None:
        return ("no Chromium at /usr/bin/chromium (or COACHWH_CHROMIUM): install it with `make browser` "
                "(apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: run `make install` (it is in the dev dependency group)"
    return None


@dataclass
class PageLoad:
    """What happened while a page loaded: its errors, the requests it made and how long it took."""

    load_seconds: float = 0.0
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def remote_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium (temporary profile), closed afterwards."""
    reason = browser_unavailable_reason()
    if reason:
        raise CoachwhError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_executable()), headless=True, args=list(LAUNCH_ARGS)
        )
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            yield context.new_page()
        finally:
            browser.close()


def open_dashboard(page: Any, html_path: Path) -> PageLoad:
    """Open the page from disk and wait until every chart has drawn; report errors and requests."""
    load = PageLoad()
    page.on("console", lambda msg: load.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: load.page_errors.append(str(exc)))
    page.on("request", lambda request: load.requests.append(request.url))
    page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
    page.wait_for_function("document.documentElement.getAttribute('data-ready') === 'true'",
                           timeout=READY_TIMEOUT_MS)
    # Milliseconds since navigation started, measured by the browser itself: the page was parsed,
    # plotly.js ran and every chart drew (the page sets dashboardReadyMs then).
    load.load_seconds = page.evaluate(
        "Math.max(window.dashboardReadyMs, performance.getEntriesByType('navigation')[0].loadEventEnd) / 1000"
    )
    return load


def measure_load_seconds(html_path: Path) -> float:
    """Seconds from navigation start until the dashboard has drawn every chart, in a fresh headless Chromium."""
    with chromium_page() as page:
        return open_dashboard(page, html_path).load_seconds


def screenshot(html_path: Path, png_path: Path, full_page: bool = True) -> Path:
    """Save a PNG of the loaded dashboard (1440 px wide, the whole page by default)."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        open_dashboard(page, html_path)
        page.screenshot(path=str(png_path), full_page=full_page)
    return png_path
