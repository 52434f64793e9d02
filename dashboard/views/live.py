"""Live market: latest price per symbol with its change, and for one symbol candles at 5 s to 1 h
with SMA/EMA 20, Bollinger, VWAP and volume, plus trades/s, RSI 14 and MACD panes on demand
(`?panes=tps,rsi,macd`); refreshed by a fragment."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, formatting, indicators, ui

REFRESH_S = 3
CHANGE_MINUTES = 5
TILES_PER_ROW = 4
# label -> (table, roll-up rule or None, bar seconds, window shown, URL value)
TIMEFRAMES = {
    "5 s": ("trades_5s", None, 5, timedelta(minutes=30), "5s"),
    "1 min": ("bars_1m", None, 60, timedelta(hours=4), "1m"),
    "5 min": ("bars_1m", "5min", 300, timedelta(hours=24), "5m"),
    "15 min": ("bars_1m", "15min", 900, timedelta(days=3), "15m"),
    "1 h": ("bars_1m", "1h", 3600, timedelta(days=10), "1h"),
}


def timeframe_bars(symbol: str, label: str, anchor: pd.Timestamp) -> pd.DataFrame:
    """The bars of `label` ending with the bar that holds `anchor` (the symbol's newest trade)."""
    table, rule, seconds, window, _ = TIMEFRAMES[label]
    end = (anchor.floor(f"{seconds}s") + pd.Timedelta(seconds=seconds)).to_pydatetime()
    start = end - window
    bars = ui.cached_read(data.bars, table, symbol, start, end)
    return indicators.resample_bars(bars, rule) if rule else bars


def price_table(prices: pd.DataFrame) -> None:
    """One tile per symbol (at most TILES_PER_ROW a row, so a five-digit price fits whole), then the table."""
    rows = [prices.iloc[start:start + TILES_PER_ROW] for start in range(0, len(prices), TILES_PER_ROW)]
    for chunk in rows:
        columns = st.columns(TILES_PER_ROW)
        for column, row in zip(columns, chunk.itertuples(), strict=False):
            column.metric(formatting.tile_label(row.symbol), formatting.price(row.price),
                          formatting.change(row.change, row.change_pct, row.price),
                          help=f"{row.symbol}: last trade {formatting.timestamp(row.trade_timestamp)} UTC; "
                               f"change against {CHANGE_MINUTES} min before it")
    st.dataframe(formatting.prices_table(prices, CHANGE_MINUTES), hide_index=True, width="stretch",
                 key="latest-prices")


@st.fragment(run_every=REFRESH_S)
def live(symbol: str, label: str, panes: tuple[str, ...]) -> None:
    try:
        prices = ui.cached_read(data.latest_prices, ui.settings().feed.symbols, CHANGE_MINUTES)
        price_table(prices)
        newest = ui.cached_read(data.latest_price, symbol)
        if newest is None:
            st.info(f"No trades for {symbol} yet.")
            return
        bars = timeframe_bars(symbol, label, newest["trade_timestamp"])
    except data.DatabaseUnavailable as exc:
        ui.unavailable_message(str(exc), REFRESH_S)
        return
    age = pd.Timestamp.now(tz="UTC") - newest["trade_timestamp"]
    st.caption(f"{symbol}: last trade {newest['trade_timestamp']:%Y-%m-%d %H:%M:%S} UTC "
               f"({age.total_seconds():,.0f} s ago) · {len(bars)} bar{'' if len(bars) == 1 else 's'} of {label} · "
               f"refreshes every {REFRESH_S} s")
    if bars.empty:
        st.info(f"No {label} bars for {symbol} in the window before its last trade.")
        return
    ui.plotly(charts.market_chart(bars, TIMEFRAMES[label][2], f"{symbol} · {label} candles", panes,
                                  now=pd.Timestamp.now(tz="UTC")), key="market-chart")


def pick_panes() -> tuple[str, ...]:
    """The indicator panes under the chart (none by default: each pane costs render time at every
    refresh), preselected from `?panes=`; unknown names get a warning and are ignored."""
    wanted = [name for name in st.query_params.get("panes", "").split(",") if name]
    unknown = [name for name in wanted if name not in charts.INDICATOR_PANES]
    if unknown:
        st.warning(f"Unknown pane {', '.join(map(repr, unknown))} in the URL: use "
                   f"{', '.join(charts.INDICATOR_PANES)}.")
    chosen = st.pills("Indicator panes", list(charts.INDICATOR_PANES), selection_mode="multi",
                      default=[name for name in wanted if name in charts.INDICATOR_PANES],
                      format_func=lambda name: charts.INDICATOR_PANES[name][0], key="live-panes")
    panes = tuple(name for name in charts.INDICATOR_PANES if name in chosen)
    if panes:
        st.query_params["panes"] = ",".join(panes)
    else:
        st.query_params.pop("panes", None)
    return panes


def render() -> None:
    st.title("Live market")
    settings = ui.settings()
    prices = ui.cached_read(data.latest_prices, settings.feed.symbols, CHANGE_MINUTES)
    if prices.empty and not st.query_params.get("symbol"):
        ui.empty_database("trades", "tickplant up        # simulator feed, or set FINNHUB_API_TOKEN for Finnhub")
        return
    symbol = ui.pick_symbol(settings.feed.symbols, lambda s: data.latest_price(ui.store(), s) is not None,
                            key="live-symbol")
    if symbol is None:
        return
    by_url = {spec[4]: label for label, spec in TIMEFRAMES.items()}
    wanted = st.query_params.get("tf", "1m")
    if wanted not in by_url:
        st.warning(f"Unknown timeframe {wanted!r} in the URL: use one of {', '.join(by_url)}. Showing 1 min.")
        wanted = "1m"
    label = st.radio("Timeframe", list(TIMEFRAMES), index=list(by_url).index(wanted), horizontal=True,
                     key="live-timeframe")
    st.query_params["tf"] = TIMEFRAMES[label][4]
    live(symbol, label, pick_panes())


ui.run_page(render)
