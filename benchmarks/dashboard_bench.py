"""`tickplant bench dashboard`: fill an isolated keyspace with >= 1,000,000 trades through the stream
processor's own transforms and Cassandra writers (a Spark batch over synthetic trades spread over the
last days), plus GBM runs, daily history and pipeline rows; then serve `tickplant dashboard` and time,
in headless Chromium, each page's first render and its refresh (targets: < 2 s and < 0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import cassandra as cassandra_db
from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("AAPL", "AMZN", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "BINANCE:DOGEUSDT")
PRICES = (230.0, 210.0, 480.0, 91000.0, 3100.0, 2.2, 0.38)
# page label -> (URL path, Plotly charts it draws)
PAGES = {
    "live 1 min": ("?symbol=AAPL&tf=1m", 1),
    "live 5 s": ("?symbol=AAPL&tf=5s", 1),
    "live 1 h": ("?symbol=AAPL&tf=1h", 1),
    "live 1 min, all panes": ("?symbol=AAPL&tf=1m&panes=tps,rsi,macd", 1),
    "gbm": ("gbm?symbol=AAPL", 4),
    "history": ("history?symbol=AAPL", 2),
    "health": ("health", 2),
}
STATE_LOG = """() => { window.__runs = []; const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__runs.push([performance.now(), app.getAttribute('data-test-script-state')]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""
READY = """(charts) => { const app = document.querySelector('[data-testid="stApp"]');
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSkeleton"]')
    && plots.length >= charts && plots.every(p => (p.data || []).length > 0 && p.querySelector('.main-svg')); }"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trades", type=int, default=1_000_000, help="trades to store (default 1,000,000)")
    parser.add_argument("--days", type=float, default=3.0, help="the trades span the last N days (default 3)")
    parser.add_argument("--repeat", type=int, default=5, help="loads per page (default 5)")
    parser.add_argument("--keyspace", help="reuse this filled keyspace instead of filling a new one")
    parser.add_argument("--keep", action="store_true", help="keep the bench keyspace")
    parser.add_argument("--fill-only", action="store_true", help="fill (and keep) the keyspace, measure nothing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--floor", action="store_true",
                        help="measure only a one-chart Streamlit page (what any Streamlit + Plotly page costs here)")


def fill(settings: Settings, trades_total: int, days: float) -> dict[str, Any]:
    """Trades -> `trades`, `trades_5s`, `bars_1m` through stream_processor's transforms and upserts
    (Spark), latest prices through its LatestPrices writer; the rest through benchmarks.sample_data."""
    import pandas as pd

    from benchmarks import sample_data
    from core.spark import build_session
    from stream_processor import transforms
    from stream_processor.cassandra_io import LatestPrices, close_driver_sessions, upsert

    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    per_symbol = trades_total / len(SYMBOLS) / (days * 86400) * 1.002
    frames = []
    for seed, (symbol, s0) in enumerate(zip(SYMBOLS, PRICES, strict=True), start=1):
        spec = sample_data.TradeSpec(symbol, start, end, per_symbol, s0=s0, sigma=0.6, seed=seed)
        frame = sample_data.synthetic_trades(spec)
        frame["symbol"] = symbol
        # identity as the stream processor derives it: producer, frame sequence, index in the frame
        frame["producer_id"], frame["frame_seq"], frame["frame_index"] = f"bench-{seed}", range(len(frame)), 0
        frame["trade_id"] = [f"bench-{seed}-{i}-0" for i in range(len(frame))]
        frames.append(frame)
    trades = pd.concat(frames, ignore_index=True)
    trades["t_ms"] = trades["trade_timestamp"].astype("int64") // 1_000_000
    timings: dict[str, float] = {}
    started = time.monotonic()
    spark = build_session(settings, "tickplant-bench-dashboard-fill")
    timings["spark_start_s"] = time.monotonic() - started
    try:
        import pyspark.sql.functions as F

        started = time.monotonic()
        frame = spark.createDataFrame(trades[["symbol", "trade_id", "price", "volume", "t_ms", "producer_id",
                                              "frame_seq", "frame_index"]])
        rows = (frame.withColumn("trade_timestamp", transforms.epoch_ms_to_timestamp(F.col("t_ms")))
                .withColumn("trade_date", transforms.utc_date(F.col("t_ms")))
                .withColumn("trade_conditions", F.array().cast("array<string>"))
                .withColumn("ingest_timestamp", F.current_timestamp())
                .withColumn("source", F.lit("bench"))).cache()
        keyspace = settings.cassandra.keyspace
        upsert(rows.select(*transforms.TRADE_COLUMNS), settings, "trades")
        timings["write_trades_s"] = time.monotonic() - started
        started = time.monotonic()
        upsert(transforms.window_aggregates(rows, "5 seconds").select(*transforms.WINDOW_COLUMNS), settings,
               "trades_5s")
        upsert(transforms.as_bars(transforms.window_aggregates(rows, "1 minute")), settings, "bars_1m")
        timings["write_aggregates_s"] = time.monotonic() - started
        newest = trades.sort_values("trade_timestamp").groupby("symbol").tail(1)
        LatestPrices(settings).write(newest.to_dict("records"))
    finally:
        close_driver_sessions()
        spark.stop()
    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    try:
        latest = {row.symbol: row.price for row in newest.itertuples()}
        run_ts = end.replace(second=0) - timedelta(minutes=30)
        for symbol in SYMBOLS:
            for hours in range(24):
                sample_data.write_gbm_run(session, keyspace, sample_data.GbmRunSpec(
                    symbol, run_ts - timedelta(hours=hours), s0=latest[symbol], mu=0.1, sigma=0.6), sample_size=1000)
            sample_data.write_backtest(session, keyspace, symbol, [(run_ts - timedelta(hours=h), 0.9, 0.5)
                                                                   for h in range(1, 24)])
            sample_data.write_daily(session, keyspace, symbol, datetime(2006, 1, 2), 5000, s0=50.0)
        for name in ("trades", "trades_5s", "bars_1m"):
            sample_data.write_metrics(session, keyspace, name, [(end - timedelta(seconds=5 * i), 1000, 800.0, 2000.0)
                                                                for i in range(720)])
        sample_data.write_dead_letters(session, keyspace, [(end - timedelta(minutes=i), "bad avro")
                                                           for i in range(0, 600, 7)])
        count = session.prepare("SELECT COUNT(*) AS n FROM trades WHERE symbol = ? AND trade_date = ?")
        day_partitions = {t.date() for t in pd.date_range(start, end, freq="6h")} | {end.date()}
        stored = sum(session.execute(count, (symbol, day), timeout=120).one()["n"]
                     for symbol in SYMBOLS for day in day_partitions)
    finally:
        cassandra_db.close(session)
    return {"trades_generated": len(trades), "trades_stored": stored, **timings}


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
st.plotly_chart(go.Figure(go.Scatter(x=list(range(10)), y=list(range(10)))), key="chart")
"""


def _serve(settings: Settings, app: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`tickplant dashboard` on a free port, or plain `streamlit run app` when `app` is given."""
    from core.net import free_port

    port = free_port()
    env = {**os.environ, "CASSANDRA_KEYSPACE": settings.cassandra.keyspace, "TICKPLANT_SYMBOLS": ",".join(SYMBOLS),
           "KAFKA_TOPIC": settings.kafka.topic}
    command = ([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                "--server.headless", "true", "--browser.gatherUsageStats", "false"] if app
               else [sys.executable, "-m", "tickplant", "dashboard", "--port", str(port)])
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the dashboard did not start")


def _load(browser: Any, url: str, charts: int, context: Any = None) -> tuple[float, Any, Any]:
    """Open `url` in a new page (a new Streamlit session) and time it until its charts are drawn;
    a new context has an empty HTTP cache, a given one has the app's static files cached."""
    context = context or browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    started = time.monotonic()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(READY, arg=charts, timeout=60_000, polling=20)
    return time.monotonic() - started, page, context


def _rerun(page: Any, charts: int) -> float:
    """A rerun of the page in place (Streamlit's 'R' shortcut), timed until it has drawn again."""
    page.evaluate(STATE_LOG)
    page.locator("h1").first.click()
    started = time.monotonic()
    page.keyboard.press("r")
    page.wait_for_function("() => (window.__runs || []).some(r => r[1] === 'running')", timeout=10_000, polling=5)
    page.wait_for_function(READY, arg=charts, timeout=60_000, polling=20)
    return time.monotonic() - started


def _fragment_refreshes(page: Any, seconds: float) -> list[float]:
    """Durations of the live fragment's own reruns (running -> notRunning) over `seconds`."""
    page.evaluate(STATE_LOG)
    time.sleep(seconds)
    runs = page.evaluate("window.__runs")
    durations, began = [], None
    for at, state in runs:
        if state == "running":
            began = at
        elif began is not None:
            durations.append((at - began) / 1000)
            began = None
    return durations


def measure(settings: Settings, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    process, url = _serve(settings)
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=["--no-sandbox", "--disable-dev-shm-usage"])
            cold, page, context = _load(browser, f"{url}/?symbol=AAPL&tf=1m", 1)
            context.close()
            results["cold_first_load_s"] = cold
            for label, (path, charts) in PAGES.items():
                colds, firsts, reruns = [], [], []
                for _ in range(repeat):
                    cold, page, context = _load(browser, f"{url}/{path}", charts)
                    colds.append(cold)
                    page.close()
                    first, page, _ = _load(browser, f"{url}/{path}", charts, context)
                    firsts.append(first)
                    reruns.append(_rerun(page, charts))
                    context.close()
                results[label] = {"first_render_s": _stats(firsts), "first_render_empty_cache_s": _stats(colds),
                                  "rerun_s": _stats(reruns)}
            first, page, context = _load(browser, f"{url}/?symbol=AAPL&tf=5s", 1)
            results["live fragment refresh"] = _stats(_fragment_refreshes(page, 16))
            context.close()
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    return results


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3), "n": len(values)}


def measure_floor(settings: Settings, repeat: int) -> dict[str, Any]:
    """First render of a one-chart Streamlit page, measured as the dashboard's pages are."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as directory:
        app = Path(directory) / "floor.py"
        app.write_text(FLOOR_APP)
        process, url = _serve(settings, app)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
                _, page, context = _load(browser, url, 1)  # the static files into the cache
                page.close()
                firsts = []
                for _ in range(repeat):
                    first, page, _ = _load(browser, url, 1, context)
                    firsts.append(first)
                    page.close()
                browser.close()
        finally:
            process.terminate()
            process.wait(30)
    return {"floor_first_render_s": _stats(firsts)}


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.floor:
        floor = measure_floor(settings, args.repeat)
        print(f"one-chart Streamlit page, first render (static files cached): median "
              f"{floor['floor_first_render_s']['median']:.2f} s, max {floor['floor_first_render_s']['max']:.2f} s "
              f"over {args.repeat}; load average {os.getloadavg()[0]:.2f}")
        return 0
    keyspace = args.keyspace or f"bench_dash_{uuid.uuid4().hex[:8]}"
    bench = settings.replace(cassandra_keyspace=keyspace)
    report: dict[str, Any] = {"keyspace": keyspace}
    if not args.keyspace:
        session = cassandra_db.connect(bench)
        try:
            cassandra_db.apply_migrations(session, bench)
        finally:
            cassandra_db.close(session)
        print(f"filling {keyspace} with {args.trades:,} trades over {args.days:g} days ...", flush=True)
        report["fill"] = fill(bench, args.trades, args.days)
        print(json.dumps(report["fill"]), flush=True)
    if args.fill_only:
        print(f"filled; measure with: tickplant bench dashboard --keyspace {keyspace}")
        return 0
    try:
        report["pages"] = measure(bench, args.repeat)
    finally:
        if not args.keep and not args.keyspace:
            session = cassandra_db.connect(bench)
            try:
                session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
            finally:
                cassandra_db.close(session)
    pages = report["pages"]
    print(f"cold first load (server just started): {pages['cold_first_load_s']:.2f} s")
    print("seconds, median / max:   first render   (empty browser cache)   rerun in place")
    for label in PAGES:
        first, cold, rerun = (pages[label][key] for key in ("first_render_s", "first_render_empty_cache_s", "rerun_s"))
        print(f"  {label:<12} {first['median']:>10.2f} / {first['max']:<6.2f} "
              f"({cold['median']:.2f} / {cold['max']:.2f})  {rerun['median']:>12.2f} / {rerun['max']:.2f}")
    fragment = pages["live fragment refresh"]
    if fragment:
        print(f"live fragment refresh (every 3 s, in place): median {fragment['median']:.3f} s, "
              f"max {fragment['max']:.3f} s over {fragment['n']} refreshes")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0
