"""Headless Chromium against the provisioned Superset: log in, open Market overview, wait for
its five charts to draw the pipeline's data with no chart error, screenshot it; with the SQL
engine stopped the same page shows query errors, and starting the engine brings the charts back."""

from __future__ import annotations

import time

import pytest

from tests.browser.support import new_context, save_screenshot
from tests.helpers_sql import SqlStack

pytestmark = pytest.mark.browser   # run in the SQL package, beside the stack it needs

CHARTS = 5
# per chart holder: its title, whether it drew (canvas/svg/table rows), whether it shows an error
CHART_STATE = """() => [...document.querySelectorAll('[data-test="dashboard-component-chart-holder"]')].map(h => ({
    title: (h.querySelector('[data-test="slice-header"]') || h).innerText.split('\\n')[0],
    drawn: Boolean(h.querySelector('canvas, svg, table tbody tr')),
    loading: Boolean(h.querySelector('[data-test="loading-indicator"], .loading')),
    error: Boolean(h.querySelector('.ant-alert-error, [role="alert"], [data-test="error-tooltip"]'))
           || /unexpected error|error|failed/i.test(h.innerText.replace(/GBM forecast bands/, '')),
    text: h.innerText.slice(0, 300)}))"""


def _login(page, stack: SqlStack) -> None:
    page.goto(f"{stack.superset.url}/login/", wait_until="domcontentloaded", timeout=180_000)
    page.fill('[data-test="username-input"] input, input[data-test="username-input"], input[name="username"]',
              stack.options.superset_admin_username)
    page.fill('[data-test="password-input"] input, input[data-test="password-input"], input[name="password"]',
              stack.superset.admin_password().get_secret_value())
    page.click('[data-test="login-button"]')
    # logged in once the redirect away from /login is committed; the next page's own waits follow
    page.wait_for_url(lambda url: "/login" not in url, wait_until="commit", timeout=180_000)


def _wait_for_charts(page, timeout_s: float = 240) -> list[dict]:
    """Until every chart has drawn or failed and nothing is loading; returns each chart's state."""
    deadline = time.monotonic() + timeout_s
    state: list[dict] = []
    settled_before: list[dict] | None = None
    while time.monotonic() < deadline:
        state = page.evaluate(CHART_STATE)
        settled = len(state) == CHARTS and all((c["drawn"] or c["error"]) and not c["loading"] for c in state)
        if settled and state == settled_before:   # two reads alike: no chart is still re-rendering
            return state
        settled_before = state if settled else None
        page.wait_for_timeout(250)
    raise AssertionError(f"the charts did not finish within {timeout_s:.0f}s: {state}")


def _open_dashboard(page, stack: SqlStack) -> None:
    # The first load of a fresh Superset serves its large JS bundles cold: on a busy 2-core machine the
    # header took over 60 s once (a clean-clone run), so page waits allow three minutes.
    page.goto(f"{stack.superset.url}/superset/dashboard/market-overview/", wait_until="domcontentloaded",
              timeout=180_000)
    page.wait_for_selector('[data-test="dashboard-header-container"], [data-test="dashboard-header-wrapper"]',
                           timeout=180_000)


@pytest.fixture(scope="module")
def superset_page(browser, sql_stack: SqlStack):
    """One logged-in page for the module: a person logs in once and keeps the tab (a second login
    from a fresh context once hung for 180 s on a loaded box, the POST never answered)."""
    context = new_context(browser)
    page = context.new_page()
    _login(page, sql_stack)
    yield page
    context.close()


def test_market_overview_draws_every_chart_without_error(superset_page, sql_stack: SqlStack):
    browser_page = superset_page
    _open_dashboard(browser_page, sql_stack)
    assert "Market overview" in browser_page.inner_text("body")
    charts = _wait_for_charts(browser_page)
    path = save_screenshot(browser_page, "superset-market-overview")
    assert path.is_file() and path.stat().st_size > 20_000
    assert sorted(c["title"] for c in charts) == ["GBM forecast bands vs actual close", "Latest prices",
                                                  "Price by symbol", "Trades per interval", "Volume by symbol"]
    assert [c for c in charts if c["error"] or not c["drawn"]] == []
    latest = next(c for c in charts if c["title"] == "Latest prices")
    for symbol in ("AAPL", "MSFT", "BINANCE:BTCUSDT"):
        assert symbol in latest["text"]
    assert "Symbol" in browser_page.inner_text("body")  # the native filter bar


def test_engine_stopped_the_charts_show_a_query_error_and_recover_after_a_start(superset_page, sql_stack: SqlStack):
    browser_page = superset_page
    assert sql_stack.trino.stop() is True
    try:
        _open_dashboard(browser_page, sql_stack)
        charts = _wait_for_charts(browser_page)
        save_screenshot(browser_page, "superset-engine-down")
        assert all(c["error"] for c in charts), charts
    finally:
        sql_stack.trino.start()
    _open_dashboard(browser_page, sql_stack)
    charts = _wait_for_charts(browser_page)
    assert [c for c in charts if c["error"] or not c["drawn"]] == []
