"""The first five minutes of a new user (issue 22): a fresh `tickplant up` on an empty home with the
default symbols, its own Kafka and Cassandra. Within three minutes of the start every page draws a
chart and shows no "… yet" box, the start-up output has no `retrying` line, and the live page's
price tiles show each price whole. One screenshot per page: var/screenshots/first-start-<page>.png."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core import net
from core.config import Settings
from core.retry import wait_until
from tests.browser.support import save_screenshot, wait_streamlit_ready
from tests.helpers import ROOT, private_env
from tickplant.runtime import stack as runtime

FIRST_START_S = 180
# page -> (path, charts it draws at least), in the order their data arrive: the first GBM run last
PAGES = {"live": ("", 1), "history": ("history", 2), "health": ("health", 1), "gbm": ("gbm", 3)}
PAGE_STATE = """() => ({
    charts: Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => (el.data || []).length),
    alerts: Array.from(document.querySelectorAll('[data-testid="stAlert"]')).map(el => el.innerText),
    errors: document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]').length,
})"""
# every tile's value as shown: cut when its text is wider than its box (Streamlit ends it with "…")
TILES = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(tile => {
    const value = tile.querySelector('[data-testid="stMetricValue"]');
    const box = value.querySelector('div') || value;
    return {label: tile.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
            value: value.innerText.trim(), cut: box.scrollWidth > box.clientWidth + 1};
})"""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a local URL)
            return answer.status == 200
    except OSError:
        return False


def _page_ready(page, url: str, charts: int):
    """The page once it has `charts` charts with traces, no error and no "yet" box; None to try again."""
    page.goto(url, wait_until="domcontentloaded")
    wait_streamlit_ready(page, timeout_s=60)
    state = page.evaluate(PAGE_STATE)
    if state["errors"] or len(state["charts"]) < charts or not all(state["charts"]) or any(
            "yet" in alert for alert in state["alerts"]):
        return None
    return state


def test_a_fresh_up_fills_every_page_within_three_minutes_quietly_and_with_whole_prices(browser_page, tmp_path):
    ports = {"TICKPLANT_SIMULATOR_PORT": str(net.free_port()), "TICKPLANT_METRICS_PORT": str(net.free_port()),
             "TICKPLANT_DASHBOARD_PORT": str(net.free_port()), "TICKPLANT_STREAM_METRICS_PORT": "0"}
    env = {**os.environ, **private_env(tmp_path / "var"), **ports}
    for name in ("FINNHUB_API_TOKEN", "TICKPLANT_SYMBOLS", "CASSANDRA_KEYSPACE", "KAFKA_TOPIC"):
        env.pop(name, None)   # the defaults a new user has
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    output_path = tmp_path / "up.out"
    started = time.monotonic()
    with output_path.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "tickplant", "up"], cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = started + FIRST_START_S

    def running(condition):
        def check():
            assert process.poll() is None, output_path.read_text()[-3000:]
            return condition()
        return check

    try:
        wait_until(running(lambda: "Ctrl-C stops everything cleanly." in output_path.read_text()), FIRST_START_S,
                   what="tickplant up", initial_s=0.5, maximum_s=1.0)
        up_s = time.monotonic() - started
        printed = output_path.read_text()
        assert "retrying" not in printed, printed
        url = f"http://127.0.0.1:{settings.runtime.dashboard_port}"
        assert f"  dashboard      {url}" in printed
        wait_until(running(lambda: _answers(f"{url}/_stcore/health")), max(1.0, deadline - time.monotonic()),
                   what="the dashboard answering", initial_s=0.5, maximum_s=1.0)
        reached = {}
        for name, (path, charts) in PAGES.items():
            state = wait_until(running(lambda path=path, charts=charts: _page_ready(browser_page, f"{url}/{path}",
                                                                                    charts)),
                               max(1.0, deadline - time.monotonic()), what=f"the {name} page filled",
                               initial_s=2.0, maximum_s=5.0)
            reached[name] = round(time.monotonic() - started)
            assert state["charts"]
            if name == "live":
                tiles = browser_page.evaluate(TILES)
                assert [tile["label"] for tile in tiles] == [s.rpartition(":")[2] for s in settings.feed.symbols]
                assert [tile for tile in tiles if tile["cut"] or not re.fullmatch(r"[\d,]+(\.\d+)?", tile["value"])
                        ] == [], tiles
            save_screenshot(browser_page, f"first-start-{name}")
        print(f"up in {up_s:.0f} s; pages filled at {reached} s after the start")
        assert "retrying" not in output_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=240)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        runtime.stop_all(settings)
