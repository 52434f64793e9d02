"""The dashboard in headless Chromium: `tickplant dashboard` serves an isolated keyspace filled
with market, GBM, history and pipeline rows; every page renders without a Streamlit error box, its
Plotly charts are drawn with traces, and one screenshot per page lands in var/screenshots/.
Bad input: an unknown symbol in the URL; Cassandra gone while a page is open, then back."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks import sample_data
from core import cassandra as cassandra_db
from core.net import free_port
from core.retry import wait_until
from tests.browser.dashboard_support import TcpProxy, dashboard_env
from tests.browser.support import save_screenshot, screenshot_page, wait_streamlit_ready
from tests.helpers import ROOT, own_topic_and_keyspace

SYMBOLS = "AAPL,MSFT,BINANCE:BTCUSDT"
# page -> (URL path and query, charts expected at least)
PAGES = {
    "live": ("?symbol=AAPL&tf=1m&panes=tps,rsi,macd", 1),  # the default page, at /, every pane
    "gbm": ("gbm?symbol=AAPL", 4),
    "history": ("history?symbol=AAPL", 2),
    "health": ("health", 2),
}
CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
    el => ({traces: (el.data || []).length, svg: el.querySelectorAll('.main-svg').length}))"""
ERROR_BOXES = '[data-testid="stException"]'


def fill(settings) -> None:
    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    ks = settings.cassandra.keyspace
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        for seed, (symbol, s0, sigma) in enumerate((("AAPL", 230.0, 0.3), ("MSFT", 480.0, 0.3),
                                                    ("BINANCE:BTCUSDT", 91000.0, 0.7)), start=1):
            spec = sample_data.TradeSpec(symbol, now - timedelta(hours=3), now - timedelta(seconds=3), 2,
                                         s0=s0, sigma=sigma * 20, seed=seed)
            trades = sample_data.synthetic_trades(spec)
            if symbol == "MSFT":  # a feed gap of 12 minutes
                stamp = trades["trade_timestamp"]
                trades = trades[(stamp < now - timedelta(minutes=40)) | (stamp > now - timedelta(minutes=28))]
            sample_data.write_market(session, ks, symbol, trades)
        latest = session.execute("SELECT price FROM latest_prices WHERE symbol = 'AAPL'").one()["price"]
        run_ts = now.replace(second=0) - timedelta(minutes=20)
        for hours_back in (2, 1, 0):
            sample_data.write_gbm_run(session, ks, sample_data.GbmRunSpec(
                "AAPL", run_ts - timedelta(hours=hours_back), s0=latest, mu=0.1, sigma=6.0, se_mu=0.4,
                se_sigma=0.05), sample_size=1000, seed=hours_back)
        sample_data.write_backtest(session, ks, "AAPL", [(run_ts - timedelta(hours=h), 0.86 + h / 100, 0.47 + h / 50)
                                                         for h in range(1, 6)])
        sample_data.write_daily(session, ks, "AAPL", datetime(2021, 1, 4), 1250, s0=130, seed=11)
        sample_data.write_daily(session, ks, "MSFT", datetime(2021, 1, 4), 1250, s0=220, seed=12)
        for name, base in (("trades", 900.0), ("trades_5s", 1400.0), ("bars_1m", 1500.0)):
            sample_data.write_metrics(session, ks, name, [(now - timedelta(seconds=60 * (55 - i)), 400 + 7 * i,
                                                           base / 3 + i, base + 11 * (i % 7)) for i in range(55)])
        sample_data.write_dead_letters(session, ks, [(now - timedelta(minutes=m), reason) for m, reason in
                                                     ((50, "avro decode"), (45, "avro decode"), (12, "negative price"),
                                                      (5, "unknown symbol"), (4, "avro decode"))])
    finally:
        cassandra_db.close(session)


@pytest.fixture(scope="module")
def dashboard_keyspace(services):
    with own_topic_and_keyspace(services, "b") as settings:
        fill(settings)
        yield settings


def start_dashboard(settings, log_path, cassandra_port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **dashboard_env(settings.cassandra.keyspace, settings.kafka.topic, SYMBOLS,
                                         cassandra_port)}
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([sys.executable, "-m", "tickplant", "dashboard", "--port", str(port)], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, f"tickplant dashboard exited: {log_path.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        wait_until(answers, 60, what=f"tickplant dashboard answering on {url}", initial_s=0.3, maximum_s=0.3)
    except BaseException:
        process.terminate()
        raise
    return process, url


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def dashboard_url(dashboard_keyspace, tmp_path_factory):
    process, url = start_dashboard(dashboard_keyspace, tmp_path_factory.mktemp("dash") / "dashboard.log")
    yield url
    stop(process)


def charts_drawn(page, at_least: int, timeout_s: float = 30) -> list[dict]:
    def drawn() -> list[dict] | None:
        charts = page.evaluate(CHARTS_DRAWN)
        return charts if len(charts) >= at_least and all(c["traces"] > 0 and c["svg"] > 0 for c in charts) else None

    return wait_until(drawn, timeout_s, what=f"{page.url}: at least {at_least} charts drawn with traces",
                      initial_s=0.2, maximum_s=0.2)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_without_error_with_its_charts_drawn(name, dashboard_url, browser_page):
    path, at_least = PAGES[name]
    browser_page.goto(f"{dashboard_url}/{path}", wait_until="domcontentloaded")
    wait_streamlit_ready(browser_page, timeout_s=60)
    drawn = charts_drawn(browser_page, at_least)
    assert browser_page.locator(ERROR_BOXES).count() == 0
    assert browser_page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert browser_page.get_by_text("Page not found").count() == 0
    assert len(drawn) >= at_least
    shot = save_screenshot(browser_page, f"dashboard-{name}")
    assert shot.stat().st_size > 20_000


def test_unknown_symbol_in_the_url_shows_a_clear_message(dashboard_url, browser_page):
    shot = screenshot_page(browser_page, f"{dashboard_url}/?symbol=NOPE", "dashboard-unknown-symbol",
                           ready_selector='[data-testid="stAlertContentError"]',
                           settle=lambda page: wait_streamlit_ready(page, timeout_s=60))
    text = browser_page.locator('[data-testid="stAlertContentError"]').inner_text()
    assert "Unknown symbol 'NOPE': there is no data for it." in text
    assert browser_page.locator(ERROR_BOXES).count() == 0
    assert browser_page.locator(".js-plotly-plot").count() == 0
    assert shot.is_file()


def test_open_page_shows_database_unavailable_and_recovers_by_itself(dashboard_keyspace, browser_page,
                                                                     tmp_path):
    proxy = TcpProxy(free_port(), (dashboard_keyspace.cassandra.hosts[0], dashboard_keyspace.cassandra.port))
    proxy.start()
    process, url = start_dashboard(dashboard_keyspace, tmp_path / "dashboard.log", cassandra_port=proxy.port)
    try:
        browser_page.goto(f"{url}/?symbol=AAPL&tf=5s", wait_until="domcontentloaded")
        wait_streamlit_ready(browser_page, timeout_s=60)
        charts_drawn(browser_page, 1)
        proxy.stop()  # Cassandra gone for this dashboard while the page is open
        browser_page.wait_for_selector('[data-testid="stAlertContentError"]:has-text("Database unavailable")',
                                       timeout=30_000)
        assert browser_page.locator(ERROR_BOXES).count() == 0
        save_screenshot(browser_page, "dashboard-database-unavailable")
        proxy.start()  # back: the fragment's next refresh reconnects without a reload
        wait_until(lambda: browser_page.locator('[data-testid="stAlertContentError"]').count() == 0
                   and browser_page.locator(".js-plotly-plot").count() >= 1, 45,
                   what="the page without its error box and with a chart", initial_s=0.5, maximum_s=0.5)
        assert browser_page.locator('[data-testid="stAlertContentError"]').count() == 0
        charts_drawn(browser_page, 1)
        assert browser_page.locator(ERROR_BOXES).count() == 0
        save_screenshot(browser_page, "dashboard-database-recovered")
    finally:
        stop(process)
        proxy.stop()


def test_live_page_refreshes_in_place(dashboard_url, browser_page):
    """The fragment reruns by itself: the caption's 'seconds ago' changes without a page load."""
    browser_page.goto(f"{dashboard_url}/?symbol=AAPL&tf=5s", wait_until="domcontentloaded")
    wait_streamlit_ready(browser_page, timeout_s=60)
    navigations = []
    browser_page.on("framenavigated", lambda frame: navigations.append(frame.url))
    caption = browser_page.locator('[data-testid="stCaptionContainer"]').first
    first = caption.inner_text()
    wait_until(lambda: caption.inner_text() != first, 20, what="the caption changing in place", initial_s=0.3,
               maximum_s=0.3)
    assert navigations == []
