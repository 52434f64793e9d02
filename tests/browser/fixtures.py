"""Fixtures of the browser tier, a plugin of the root conftest so that browser tests outside
tests/browser (the SQL package's Superset test) have them too: `chromium` (Debian's package,
installed with apt when missing; under CI=true a failure fails the test), `browser` (one headless
Playwright Chromium per session) and `browser_page` (a fresh 1400x1000 page per test, requests off
this machine refused).
Helpers: tests/browser/support.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.support import CHROMIUM_ARGS, ensure_chromium, new_context
from tests.helpers import service_unavailable


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        return ensure_chromium()
    except (RuntimeError, OSError) as exc:
        service_unavailable(f"no chromium for the browser tests: {exc}")
        raise  # service_unavailable fails or skips; never reached


@pytest.fixture(scope="session")
def browser(chromium: Path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def browser_page(browser):
    context = new_context(browser)
    page = context.new_page()
    yield page
    context.close()
