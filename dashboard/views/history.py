"""History: a symbol's daily closes (`daily_bars`) with 7/21/255-day rolling means and standard
deviations, augmented Dickey–Fuller tests over the full history and the last 10/5/2/1 years,
and several symbols on one chart rebased to 100 on their first common date."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.symbols import SAMPLE_HISTORY_SYMBOL
from dashboard import charts, data, formatting, indicators, ui


@st.cache_data(ttl=3600, show_spinner=False, hash_funcs={pd.Series: lambda s: (len(s), s.index.max(), s.iloc[-1])})
def adf(keyspace: str, symbol: str, closes: pd.Series) -> pd.DataFrame:
    """The ADF table of a symbol's closes, recomputed when its history changes (or after an hour)."""
    return indicators.adf_table(closes)


def render() -> None:
    st.title("History")
    settings = ui.settings()
    candidates = dict.fromkeys((*settings.feed.symbols, SAMPLE_HISTORY_SYMBOL))
    with_history = [s for s in candidates if ui.cached_read(data.has_daily_bars, s, slow=True)]
    if not with_history and not st.query_params.get("symbol"):
        ui.empty_database("daily history (daily_bars)",
                          "tickplant import-history AAPL.csv --symbol AAPL   # a Date,Open,High,Low,Close,"
                          "Adj Close,Volume CSV")
        return
    symbol = ui.pick_symbol(tuple(with_history), lambda s: data.has_daily_bars(ui.store(), s), key="history-symbol")
    if symbol is None:
        return
    daily = ui.cached_read(data.daily_bars, symbol, slow=True)
    closes = daily["close"]
    stats = indicators.rolling_stats(closes)
    first, last = closes.index.min(), closes.index.max()
    st.caption(f"{len(closes):,} daily closes from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
    source = ui.cached_read(data.history_source, symbol, slow=True)
    st.caption(formatting.history_source(source))
    ui.plotly(charts.history_chart(closes, stats, symbol), key="history-chart")
    st.subheader("Augmented Dickey–Fuller test of the closes")
    st.dataframe(adf(settings.cassandra.keyspace, symbol, closes), hide_index=True, width="stretch", key="adf")
    st.subheader("Several symbols, normalised")
    chosen = st.multiselect("Symbols", with_history or [symbol], default=(with_history or [symbol])[:4],
                            key="history-compare")
    if chosen:
        frame = indicators.normalised({s: ui.cached_read(data.daily_bars, s, slow=True)["close"] for s in chosen})
        if frame.empty:
            st.info("These symbols have no date in common.")
        else:
            ui.plotly(charts.normalised_chart(frame), key="normalised-chart")


ui.run_page(render)
