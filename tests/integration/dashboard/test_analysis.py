"""AppTest of the GBM forecast, History and Pipeline health pages against the real Cassandra:
the charts and tables are there and show exactly the stored values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from benchmarks import sample_data
from dashboard import indicators
from tests.browser.dashboard_support import decode, trace
from tests.integration.dashboard.test_pages import app_env, charts, page  # noqa: F401 (fixture)


def test_gbm_page_shows_the_run_forecast_terminal_density_and_backtest(app_env, cassandra_session):  # noqa: F811
    ks = app_env.cassandra.keyspace
    run_ts = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    trades = sample_data.synthetic_trades(sample_data.TradeSpec("AAPL", run_ts - timedelta(hours=1),
                                                                datetime.now(UTC) - timedelta(seconds=5), 2, s0=230))
    sample_data.write_market(cassandra_session, ks, "AAPL", trades)
    older = sample_data.GbmRunSpec("AAPL", run_ts - timedelta(hours=1), s0=229.0, mu=0.1, sigma=0.3)
    newest = sample_data.GbmRunSpec("AAPL", run_ts, s0=230.5, mu=0.12, sigma=0.28, se_mu=0.61, se_sigma=0.0052)
    sample_data.write_gbm_run(cassandra_session, ks, older)
    written = sample_data.write_gbm_run(cassandra_session, ks, newest)
    sample_data.write_backtest(cassandra_session, ks, "AAPL", [(run_ts - timedelta(hours=2), 0.9, 0.5),
                                                               (run_ts - timedelta(hours=1), 0.8, 0.4)])
    app = page("gbm", symbol="AAPL")
    assert not app.exception
    assert app.selectbox(key="gbm-run").value == f"{pd.Timestamp(run_ts):%Y-%m-%d %H:%M:%S} UTC"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["μ (drift, per year)"] == "12.0 %"
    assert metrics["σ (volatility, per year)"] == "28.0 %"
    captions = [c.value for c in app.caption]
    assert ("standard errors: μ ± 61 %, σ ± 0.52 % · expected change over the 60 min horizon +0.0014 % "
            "(± 0.0070 % for 1 SE of μ) · μ is not distinguishable from zero (|μ| < 2 SE = 122 %)") in captions
    assert any(c.startswith("estimated from 1 min bars (bars_1m), ") and "newest close used" in c for c in captions)
    assert metrics["S₀ (last close)"] == "230.50"
    assert metrics["mean coverage p05–p95 (nominal 90 %)"] == "85.0%"
    assert metrics["mean coverage p25–p75 (nominal 50 %)"] == "45.0%"
    fan, histogram, density, coverage = charts(app)
    assert [note["text"] for note in fan["layout"]["annotations"]] == ["run (now)"]   # the newest close is the run's
    stored = pd.DataFrame(cassandra_session.execute(cassandra_session.prepare(
        "SELECT step_ts, p05, p50, p95, mean FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?"), ("AAPL", run_ts)))
    assert len(stored) == 60
    assert decode(trace(fan, "median (p50)")["y"]) == [230.5, *stored["p50"].tolist()]
    assert decode(trace(fan, "mean")["y"]) == [230.5, *stored["mean"].tolist()]
    assert decode(trace(fan, "p05–p95")["y"]) == [230.5, *stored["p05"].tolist()]
    assert np.allclose(stored["p50"], written["p50"])
    actual = trace(fan, "actual close")
    assert len(decode(actual["y"])) >= 59  # minute closes from one horizon before the run until now
    terminal = cassandra_session.execute(cassandra_session.prepare(
        "SELECT sample, bin_counts FROM gbm_terminal WHERE symbol = ? AND run_ts = ?"), ("AAPL", run_ts)).one()
    assert decode(histogram["data"][0]["y"]) == list(terminal["bin_counts"])
    latest = cassandra_session.execute("SELECT price FROM latest_prices WHERE symbol = 'AAPL'").one()["price"]
    assert [shape["x0"] for shape in density["layout"]["shapes"]][0] == latest
    grid = np.asarray(decode(density["data"][0]["x"]))
    from scipy.stats import gaussian_kde
    assert decode(density["data"][0]["y"]) == pytest.approx(gaussian_kde(list(terminal["sample"]))(grid).tolist())
    assert decode(trace(coverage, "inside p05–p95")["y"]) == [0.9, 0.8]
    assert app.dataframe[0].value["coverage_p25_p75"].tolist() == [0.4, 0.5]


def test_gbm_page_shows_a_skipped_run_with_its_reason(app_env, cassandra_session):  # noqa: F811
    run_ts = datetime.now(UTC).replace(microsecond=0)
    cassandra_session.execute(cassandra_session.prepare(
        "INSERT INTO gbm_runs (symbol, run_ts, status, skip_reason) VALUES (?, ?, ?, ?)"),
        ("AAPL", run_ts, "skipped", "zero variance: the close never changes"))
    app = page("gbm", symbol="AAPL")
    assert not app.exception and not app.get("plotly_chart")
    assert app.warning[0].value.endswith("skipped AAPL: zero variance: the close never changes.")


def test_history_page_rolling_stats_adf_and_normalised_chart(app_env, cassandra_session):  # noqa: F811
    ks = app_env.cassandra.keyspace
    sample_data.write_daily(cassandra_session, ks, "AAPL", datetime(2022, 1, 3), 700, s0=180, seed=1)
    sample_data.write_daily(cassandra_session, ks, "MSFT", datetime(2023, 1, 2), 300, s0=250, seed=2)
    app = page("history", symbol="AAPL")
    assert not app.exception
    history, normalised = charts(app)
    stored = pd.DataFrame(cassandra_session.execute(cassandra_session.prepare(
        "SELECT trade_date, close FROM daily_bars WHERE symbol = ?"), ("AAPL",))).iloc[::-1]
    closes = stored["close"].reset_index(drop=True)
    assert decode(trace(history, "close")["y"]) == closes.tolist()
    shown_255 = decode(trace(history, "mean 255d")["y"])
    assert shown_255[-1] == pytest.approx(closes.iloc[-255:].mean())
    assert decode(trace(history, "std 21d")["y"])[-1] == pytest.approx(closes.iloc[-21:].std())
    adf = app.dataframe[0].value
    assert adf["period"].tolist() == [p for p, _ in indicators.ADF_PERIODS]
    from statsmodels.tsa.stattools import adfuller
    statistic, p_value, lags, nobs, *_ = adfuller(closes.to_numpy(), autolag="AIC", result_object=False)
    assert adf.loc[0, "statistic"] == pytest.approx(statistic) and adf.loc[0, "p_value"] == pytest.approx(p_value)
    assert adf.loc[0, "lags"] == lags and adf.loc[0, "observations"] == nobs
    assert [t["name"] for t in normalised["data"]] == ["AAPL", "MSFT"]
    aapl, msft = (decode(t["y"]) for t in normalised["data"])
    assert len(aapl) == len(msft) == 300 - 0 and aapl[0] == msft[0] == 100.0


def test_history_page_unknown_symbol(app_env, cassandra_session):  # noqa: F811
    sample_data.write_daily(cassandra_session, app_env.cassandra.keyspace, "AAPL", datetime(2024, 1, 1), 50)
    app = page("history", symbol="ZZZZ")
    assert not app.exception and not app.get("plotly_chart")
    assert app.error[0].value.startswith("Unknown symbol 'ZZZZ'")


def test_health_page_metrics_dead_letters_and_feed_gaps(app_env, cassandra_session):  # noqa: F811
    ks = app_env.cassandra.keyspace
    now = datetime.now(UTC).replace(microsecond=0)
    batches = [(now - timedelta(minutes=10 - i), 100 * (i + 1), 200.0 + i, 900.0 + 10 * i) for i in range(10)]
    sample_data.write_metrics(cassandra_session, ks, "trades", batches)
    sample_data.write_dead_letters(cassandra_session, ks, [(now - timedelta(minutes=20), "bad avro"),
                                                           (now - timedelta(minutes=19), "bad avro"),
                                                           (now - timedelta(minutes=10), "negative price")])
    before = sample_data.synthetic_trades(sample_data.TradeSpec("AAPL", now - timedelta(minutes=40),
                                                                now - timedelta(minutes=25), 3, seed=4))
    after = sample_data.synthetic_trades(sample_data.TradeSpec("AAPL", now - timedelta(minutes=15),
                                                               now - timedelta(seconds=10), 3, seed=5))
    sample_data.write_market(cassandra_session, ks, "AAPL", pd.concat([before, after]))
    app = page("health")
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["batches"] == "10"
    assert metrics["latency p50 (median of batches)"] == f"{np.median([b[2] for b in batches]):,.0f} ms"
    assert metrics["latency p99 (max of batches)"] == "990 ms"
    services, lag, reasons, gaps = (element.value for element in app.dataframe)
    assert services["service"].tolist() == ["cassandra", "kafka", "stream processor", "collector"]
    assert services["state"].tolist()[:3] == ["up", "up", "running"]
    assert lag["query"].tolist() == ["trades"]  # the one query writes trades_5s and bars_1m too
    assert lag["lag (records)"].tolist() == ["0"]   # text: a query without a batch has an empty cell
    assert "None" not in lag.to_string()
    assert dict(zip(reasons["reason"], reasons["count"], strict=True)) == {"bad avro": 2, "negative price": 1}
    windows = pd.DataFrame(cassandra_session.execute(cassandra_session.prepare(
        "SELECT window_start FROM trades_5s WHERE symbol = ? AND trade_date = ?"), ("AAPL", now.date())))
    starts = pd.to_datetime(windows["window_start"], utc=True).sort_values()
    assert gaps["symbol"].tolist() == ["AAPL"]
    silence = starts.diff().max().total_seconds() - 5
    assert gaps["silent_s"].tolist() == [round(silence, 1)]
    assert silence > 590
    figures = charts(app)
    assert len(figures) == 2  # latency / rows per second, dead letters per hour
    assert decode(trace(figures[0], "trades p99")["y"]) == [b[3] for b in batches]


def test_history_page_shows_a_csv_imported_with_tickplant_import_history(app_env, tmp_path):  # noqa: F811
    from tests.helpers import run_cli

    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2024-01-02", periods=300)
    closes = np.round(100 * np.exp(np.cumsum(0.01 * rng.standard_normal(300))), 2)
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [f"{d:%Y-%m-%d},{c},{c + 1},{c - 1},{c},{c},{1000 + i}" for i, (d, c) in enumerate(zip(dates, closes,
                                                                                                     strict=True))]
    csv = tmp_path / "aapl.csv"
    csv.write_text("\n".join(lines) + "\n")
    done = run_cli("import-history", str(csv), "--symbol", "AAPL", "--no-progress",
                   env={"CASSANDRA_KEYSPACE": app_env.cassandra.keyspace})
    assert done.returncode == 0, done.stderr
    app = page("history", symbol="AAPL")
    assert not app.exception
    history = charts(app)[0]
    assert decode(trace(history, "close")["y"]) == closes.tolist()
    assert app.caption[0].value == "300 daily closes from 2024-01-02 to 2025-02-24"
    assert app.caption[1].value.startswith(f"source: file {csv.resolve()} · imported ")
