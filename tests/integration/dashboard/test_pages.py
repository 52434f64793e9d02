"""Each dashboard page run by Streamlit's AppTest against the real Cassandra (an isolated keyspace
filled through prepared inserts of the real schema): no exception, the expected charts and tables,
and the numbers shown equal what Cassandra holds. Bad input: unknown symbol, empty keyspace,
Cassandra unreachable and back (a proxy in front of the shared server is stopped and restarted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import sample_data
from core.net import free_port
from dashboard import formatting, indicators, ui
from tests.browser.dashboard_support import TcpProxy, dashboard_env, decode, figure_of, trace

VIEWS = Path(__file__).resolve().parents[3] / "dashboard" / "views"
SYMBOLS = "AAPL,BINANCE:BTCUSDT,MSFT"


def _reset_streamlit_caches() -> None:
    import streamlit as st

    try:
        ui.drop_store()
    except Exception:  # nothing cached, or nothing reachable: either way nothing to close
        pass
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app_env(isolated, monkeypatch):
    for name, value in dashboard_env(isolated.cassandra.keyspace, isolated.kafka.topic, SYMBOLS).items():
        monkeypatch.setenv(name, value)
    _reset_streamlit_caches()
    yield isolated
    _reset_streamlit_caches()


def page(name: str, **query: str) -> AppTest:
    app = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=90)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def charts(app: AppTest) -> list[dict]:
    return [figure_of(element) for element in app.get("plotly_chart")]


def fill_market(session, keyspace: str, end: datetime) -> dict[str, pd.DataFrame]:
    trades = {}
    for seed, (symbol, s0) in enumerate((("AAPL", 230.0), ("BINANCE:BTCUSDT", 91000.0)), start=1):
        spec = sample_data.TradeSpec(symbol, end - timedelta(minutes=20), end, rate_per_s=4, s0=s0, seed=seed)
        trades[symbol] = sample_data.synthetic_trades(spec)
        sample_data.write_market(session, keyspace, symbol, trades[symbol])
    return trades


def stored_bars(session, table: str, key: str, symbol: str, start: datetime) -> pd.DataFrame:
    rows = []
    for day in {start.date(), datetime.now(UTC).date()}:
        rows += list(session.execute(session.prepare(
            f"SELECT {key}, open, high, low, close, volume, trade_count FROM {table} WHERE symbol = ? "
            f"AND trade_date = ? AND {key} >= ?"), (symbol, day, start)))
    return pd.DataFrame(rows).sort_values(key).reset_index(drop=True)


def test_live_page_shows_latest_prices_and_5s_candles_equal_to_cassandra(app_env, cassandra_session):
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    fill_market(cassandra_session, app_env.cassandra.keyspace, end)
    app = page("live", symbol="AAPL", tf="5s", panes="tps,rsi,macd")
    assert not app.exception
    latest = {s: cassandra_session.execute(cassandra_session.prepare(
        "SELECT price, trade_timestamp FROM latest_prices WHERE symbol = ?"), (s,)).one()
        for s in ("AAPL", "BINANCE:BTCUSDT", "MSFT")}
    assert latest["MSFT"] is None
    assert [m.label for m in app.metric] == ["AAPL", "BTCUSDT"]   # the venue prefix is in the tile's help
    assert [m.value for m in app.metric] == [formatting.price(latest[s]["price"]) for s in ("AAPL", "BINANCE:BTCUSDT")]
    table = app.dataframe[0].value
    assert table["symbol"].tolist() == ["AAPL", "BINANCE:BTCUSDT"]
    assert table["price"].tolist() == [formatting.price(latest[s]["price"]) for s in ("AAPL", "BINANCE:BTCUSDT")]
    before = cassandra_session.execute(cassandra_session.prepare(
        "SELECT close FROM trades_5s WHERE symbol = ? AND trade_date = ? AND window_start <= ? LIMIT 1"),
        ("AAPL", (latest["AAPL"]["trade_timestamp"] - timedelta(minutes=5)).date(),
         latest["AAPL"]["trade_timestamp"].replace(tzinfo=UTC) - timedelta(minutes=5))).one()["close"]
    digits = formatting.decimals(latest["AAPL"]["price"])
    assert table["change 5 min"].iloc[0] == f"{latest['AAPL']['price'] - before:+,.{digits}f}"
    assert "None" not in table.to_string()

    [figure] = charts(app)
    stored = stored_bars(cassandra_session, "trades_5s", "window_start", "AAPL", end - timedelta(minutes=21))
    candles = trace(figure, "OHLC")
    assert len(stored) > 200
    assert decode(candles["close"]) == stored["close"].tolist()
    assert decode(candles["open"]) == stored["open"].tolist()
    assert decode(trace(figure, "volume")["y"]) == pytest.approx(stored["volume"].tolist())
    assert decode(trace(figure, "trades/s")["y"]) == pytest.approx((stored["trade_count"] / 5).tolist())
    rsi = indicators.rsi(stored["close"]).iloc[-1]
    assert decode(trace(figure, "RSI 14")["y"])[-1] == pytest.approx(rsi)
    names = {t["name"] for t in figure["data"]}
    assert {"SMA 20", "EMA 20", "Bollinger upper", "Bollinger lower", "VWAP", "MACD", "signal"} <= names


def test_live_page_draws_price_and_volume_only_unless_panes_are_asked_for(app_env, cassandra_session):
    fill_market(cassandra_session, app_env.cassandra.keyspace, datetime.now(UTC).replace(microsecond=0))
    app = page("live", symbol="AAPL", tf="5s")
    assert not app.exception
    [figure] = charts(app)
    assert [t["name"] for t in figure["data"]] == ["OHLC", "Bollinger upper", "Bollinger lower", "SMA 20",
                                                    "EMA 20", "VWAP", "volume"]
    assert app.get("button_group")[0].value == []
    app = page("live", symbol="AAPL", tf="5s", panes="macd,nope")
    assert [w.value for w in app.warning] == ["Unknown pane 'nope' in the URL: use tps, rsi, macd."]
    [figure] = charts(app)
    assert [t["name"] for t in figure["data"]][-3:] == ["MACD histogram", "MACD", "signal"]
    assert {t.get("yaxis") for t in figure["data"][-3:]} == {"y3"}
    assert app.query_params["panes"] == "macd"


def test_live_page_rolls_one_minute_bars_up_to_five_minutes(app_env, cassandra_session):
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    fill_market(cassandra_session, app_env.cassandra.keyspace, end)
    app = page("live", symbol="BINANCE:BTCUSDT", tf="5m")
    assert not app.exception
    [figure] = charts(app)
    minute = stored_bars(cassandra_session, "bars_1m", "bar_start", "BINANCE:BTCUSDT", end - timedelta(hours=1))
    minute["block"] = pd.to_datetime(minute["bar_start"]).dt.floor("5min")
    expected = minute.groupby("block").agg(close=("close", "last"), high=("high", "max"), volume=("volume", "sum"))
    candles = trace(figure, "OHLC")
    assert decode(candles["close"]) == expected["close"].tolist()
    assert decode(candles["high"]) == expected["high"].tolist()
    assert decode(trace(figure, "volume")["y"]) == pytest.approx(expected["volume"].tolist())


def test_live_page_says_unknown_symbol_from_the_url_without_a_chart(app_env, cassandra_session):
    fill_market(cassandra_session, app_env.cassandra.keyspace, datetime.now(UTC) - timedelta(seconds=5))
    app = page("live", symbol="NOPE")
    assert not app.exception
    assert len(app.error) == 1 and app.error[0].value.startswith("Unknown symbol 'NOPE': there is no data for it.")
    assert not app.get("plotly_chart")


def test_every_page_on_an_empty_keyspace_says_what_to_run(app_env):
    expected = {"live": "tickplant up", "gbm": "tickplant gbm", "history": "tickplant import-history"}
    for name, command in expected.items():
        app = page(name)
        assert not app.exception, name
        assert command in app.info[0].value, name
    health = page("health")
    assert not health.exception
    assert "No micro-batch in this window" in health.info[0].value


def test_page_shows_database_unavailable_and_recovers_when_cassandra_is_back(app_env, cassandra_session,
                                                                          monkeypatch):
    fill_market(cassandra_session, app_env.cassandra.keyspace, datetime.now(UTC) - timedelta(seconds=5))
    proxy = TcpProxy(free_port(), (app_env.cassandra.hosts[0], app_env.cassandra.port))
    monkeypatch.setenv("CASSANDRA_PORT", str(proxy.port))
    _reset_streamlit_caches()
    try:
        app = page("live", symbol="AAPL")  # nothing listens yet
        assert not app.exception
        assert app.error[0].value.startswith("Database unavailable: Cassandra at 127.0.0.1:")
        assert not app.metric
        proxy.start()
        app.run()
        assert not app.exception and not app.error
        assert [m.label for m in app.metric] == ["AAPL", "BTCUSDT"]
        proxy.stop()                        # gone while the page is open
        _reset_streamlit_caches()           # what the reads' cache would do CACHE_TTL_S later
        app.run()
        assert not app.exception
        assert "Database unavailable" in app.error[0].value
        proxy.start()
        app.run()
        assert not app.exception and not app.error
        assert len(app.get("plotly_chart")) == 1
    finally:
        proxy.stop()
