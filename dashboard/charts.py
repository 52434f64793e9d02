"""The dashboard's Plotly figures, built from DataFrames (no Streamlit, no Cassandra here):
candles with overlays and indicator panes, the GBM fan chart, terminal histogram and density,
backtest coverage, history with rolling statistics, and the pipeline-health charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard import indicators

TEMPLATE = "plotly_white"
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


# Optional indicator panes under the price and volume panes: URL value -> (title, relative height)
INDICATOR_PANES = {"tps": ("trades / s (finished bars)", 0.12), "rsi": ("RSI 14", 0.14), "macd": ("MACD 12/26/9", 0.18)}
PRICE_PANES = (("", 0.44), ("volume", 0.12))
PANE_GAP = 0.025
PANE_PX = 160          # figure height per pane of relative height 0.12 … 0.18, plus the price pane


def pane_domains(shares: list[float]) -> list[tuple[float, float]]:
    """Vertical domains of stacked panes, top first, each pane's height in proportion to its share
    (what make_subplots would compute, without its cost)."""
    usable, top, domains = 1.0 - PANE_GAP * (len(shares) - 1), 1.0, []
    total = sum(shares)
    for share in shares:
        size = share / total * usable
        domains.append((max(0.0, round(top - size, 6)), round(top, 6)))
        top -= size + PANE_GAP
    return domains


def _indicator_traces(name: str, bars: pd.DataFrame, bar_seconds: float, axis: str,
                      now: pd.Timestamp | None = None) -> list:
    close, x = bars["close"], bars.index
    if name == "tps":
        # the running bar has only part of its trades: its rate would drop to ~0 at the right edge
        done = indicators.finished_bars(bars, bar_seconds, now)
        return [go.Scatter(x=done.index, y=done["trade_count"] / bar_seconds, name="trades/s",
                           line={"width": 1, "color": "#555"}, yaxis=axis)]
    if name == "rsi":
        return [go.Scatter(x=x, y=indicators.rsi(close), name="RSI 14", line={"width": 1.2}, yaxis=axis)]
    lines = indicators.macd(close)
    return [go.Bar(x=x, y=lines["histogram"], name="MACD histogram", marker_color="#c9c9c9", yaxis=axis),
            go.Scatter(x=x, y=lines["macd"], name="MACD", line={"width": 1.2}, yaxis=axis),
            go.Scatter(x=x, y=lines["signal"], name="signal", line={"width": 1.2}, yaxis=axis)]


MIN_BARS_SPAN = 10


def few_bars_range(starts: pd.Index, bar_seconds: float) -> dict:
    """An x range of at least MIN_BARS_SPAN bars while there are fewer (a first start): Plotly would
    stretch one candle over a millisecond axis. Empty otherwise (auto range)."""
    if len(starts) == 0 or len(starts) >= MIN_BARS_SPAN:
        return {}
    bar = pd.Timedelta(seconds=bar_seconds)
    end = starts[-1] + 2 * bar
    return {"range": [(end - MIN_BARS_SPAN * bar).to_pydatetime(), end.to_pydatetime()]}


def market_chart(bars: pd.DataFrame, bar_seconds: float, title: str, panes: tuple[str, ...] = (),
                 now: pd.Timestamp | None = None) -> go.Figure:
    """Candles with SMA/EMA 20, Bollinger(20, 2) and VWAP, and volume; below them the indicator
    `panes` asked for (keys of INDICATOR_PANES: trades per second, RSI 14, MACD), in that order; the
    trades/s pane leaves out the bar still running at `now` (default: none is left out).
    One shared x axis and one y axis per pane, laid out by hand: make_subplots costs more than the
    rest of the figure together, and this figure is rebuilt at every refresh. Fewer panes by default
    is most of a fast first render: the browser lays out and draws every pane at each refresh."""
    close, x = bars["close"], bars.index
    band = indicators.bollinger(close)
    traces = [
        go.Candlestick(x=x, open=bars["open"], high=bars["high"], low=bars["low"], close=close, name="OHLC"),
        go.Scatter(x=x, y=band["upper"], name="Bollinger upper", line={"width": 1, "color": "#9aa"}),
        go.Scatter(x=x, y=band["lower"], name="Bollinger lower", line={"width": 1, "color": "#9aa"},
                   fill="tonexty", fillcolor="rgba(150,170,170,0.12)"),
        go.Scatter(x=x, y=indicators.sma(close), name="SMA 20", line={"width": 1.3}),
        go.Scatter(x=x, y=indicators.ema(close), name="EMA 20", line={"width": 1.3}),
        go.Scatter(x=x, y=bars["vwap"], name="VWAP", line={"width": 1, "dash": "dot"}),
        go.Bar(x=x, y=bars["volume"], name="volume", marker_color="#7f9fbf", yaxis="y2"),
    ]
    chosen = [name for name in INDICATOR_PANES if name in panes]
    layout_panes = list(PRICE_PANES) + [INDICATOR_PANES[name] for name in chosen]
    for number, name in enumerate(chosen, start=len(PRICE_PANES) + 1):
        traces += _indicator_traces(name, bars, bar_seconds, f"y{number}", now)
    bottom = f"y{len(layout_panes)}"
    layout: dict = {"xaxis": {"anchor": bottom, "rangeslider": {"visible": False}, **few_bars_range(x, bar_seconds)},
                    "annotations": [], "shapes": []}
    domains = pane_domains([share for _, share in layout_panes])
    for number, ((label, _), domain) in enumerate(zip(layout_panes, domains, strict=True), start=1):
        layout[f"yaxis{'' if number == 1 else number}"] = {"domain": domain, "anchor": "x"}
        if label:
            layout["annotations"].append({"text": label, "x": 0.5, "xref": "paper", "y": domain[1], "yref": "paper",
                                          "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                          "font": {"size": 12, "color": "#777"}})
    if "rsi" in chosen:
        rsi_axis = f"y{len(PRICE_PANES) + 1 + chosen.index('rsi')}"
        for level in (30, 70):
            layout["shapes"].append({"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": rsi_axis,
                                     "y0": level, "y1": level, "line": {"dash": "dash", "width": 1, "color": "#bbb"}})
    figure = go.Figure(traces, layout)
    figure.update_layout(template=TEMPLATE, title={"text": title, "y": 0.995, "yanchor": "top"},
                         height=420 + PANE_PX * len(chosen), margin={**MARGIN, "t": 90},
                         legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
                         uirevision=title)  # a refresh keeps the reader's zoom and hidden traces
    return figure


def gbm_fan(actual: pd.Series, forecast: pd.DataFrame, run_ts: pd.Timestamp, title: str,
            origin_label: str = "run (now)") -> go.Figure:
    """Actual closes, then the forecast's p05–p95 and p25–p75 bands, median and mean past the forecast's
    origin `run_ts`, a dotted line there labelled `origin_label`."""
    figure = go.Figure()
    x = forecast.index
    figure.add_trace(go.Scatter(x=x, y=forecast["p95"], line={"width": 0}, name="p95", showlegend=False))
    figure.add_trace(go.Scatter(x=x, y=forecast["p05"], line={"width": 0}, fill="tonexty",
                                fillcolor="rgba(31,119,180,0.15)", name="p05–p95"))
    figure.add_trace(go.Scatter(x=x, y=forecast["p75"], line={"width": 0}, name="p75", showlegend=False))
    figure.add_trace(go.Scatter(x=x, y=forecast["p25"], line={"width": 0}, fill="tonexty",
                                fillcolor="rgba(31,119,180,0.32)", name="p25–p75"))
    figure.add_trace(go.Scatter(x=x, y=forecast["p50"], name="median (p50)", line={"color": "#1f77b4", "width": 2}))
    figure.add_trace(go.Scatter(x=x, y=forecast["mean"], name="mean", line={"color": "#ff7f0e", "dash": "dash"}))
    figure.add_trace(go.Scatter(x=actual.index, y=actual, name="actual close", line={"color": "#222", "width": 1.5}))
    figure.add_vline(x=run_ts.to_pydatetime(), line={"dash": "dot", "color": "#888"})
    figure.add_annotation(x=run_ts.to_pydatetime(), y=1.0, yref="paper", text=origin_label, showarrow=False,
                          xanchor="left")
    figure.update_layout(template=TEMPLATE, title=title, height=460, margin=MARGIN, legend={"orientation": "h"})
    return figure


def terminal_histogram(bin_edges: list[float], bin_counts: list[int], current: float | None) -> go.Figure:
    edges = np.asarray(bin_edges, dtype=float)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    figure = go.Figure(go.Bar(x=centres, y=bin_counts, width=widths, name="paths", marker_color="#1f77b4"))
    if current is not None:
        figure.add_vline(x=current, line={"color": "#d62728", "width": 2})
    figure.update_layout(template=TEMPLATE, title="Predicted terminal prices (histogram)", height=360,
                         margin=MARGIN, xaxis_title="price", yaxis_title="paths", bargap=0.02)
    return figure


def kde(sample: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of `sample` on `grid` (scipy, Scott's bandwidth)."""
    from scipy.stats import gaussian_kde

    return gaussian_kde(sample)(grid)


def terminal_density(sample: list[float], current: float | None, s0: float | None) -> go.Figure:
    values = np.asarray(sample, dtype=float)
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.1 or abs(high) * 0.01 or 1.0
    grid = np.linspace(low - pad, high + pad, 400)
    figure = go.Figure(go.Scatter(x=grid, y=kde(values, grid), fill="tozeroy", name="density (KDE)",
                                  line={"color": "#2ca02c"}))
    if current is not None:
        figure.add_vline(x=current, line={"color": "#d62728", "width": 2})
        figure.add_annotation(x=current, y=1, yref="paper", text=f"current {current:,.4g}", showarrow=False,
                              xanchor="left", font={"color": "#d62728"})
    if s0 is not None:
        figure.add_vline(x=s0, line={"color": "#888", "dash": "dot"})
    figure.update_layout(template=TEMPLATE, title="Density of predicted terminal prices (KDE)", height=360,
                         margin=MARGIN, xaxis_title="price", yaxis_title="density")
    return figure


def coverage_chart(backtest: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=backtest["run_ts"], y=backtest["coverage_p05_p95"], mode="lines+markers",
                                name="inside p05–p95"))
    figure.add_trace(go.Scatter(x=backtest["run_ts"], y=backtest["coverage_p25_p75"], mode="lines+markers",
                                name="inside p25–p75"))
    figure.add_hline(y=0.9, line={"dash": "dash", "color": "#1f77b4", "width": 1})
    figure.add_hline(y=0.5, line={"dash": "dash", "color": "#ff7f0e", "width": 1})
    figure.update_layout(template=TEMPLATE, title="Backtest band coverage (nominal 90 % and 50 %)", height=340,
                         margin=MARGIN, yaxis={"range": [0, 1.05], "tickformat": ".0%"})
    return figure


def history_chart(closes: pd.Series, stats: pd.DataFrame, symbol: str) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04,
                           subplot_titles=("", "rolling standard deviation"))
    figure.add_trace(go.Scatter(x=closes.index, y=closes, name="close", line={"color": "#222", "width": 1.2}),
                     row=1, col=1)
    for window in (7, 21, 255):
        figure.add_trace(go.Scatter(x=stats.index, y=stats[f"mean_{window}"], name=f"mean {window}d",
                                    line={"width": 1.2}), row=1, col=1)
        figure.add_trace(go.Scatter(x=stats.index, y=stats[f"std_{window}"], name=f"std {window}d",
                                    line={"width": 1}), row=2, col=1)
    figure.update_layout(template=TEMPLATE, title=f"{symbol}: daily closes with rolling means", height=620,
                         margin=MARGIN, legend={"orientation": "h"})
    return figure


def normalised_chart(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Scatter(x=frame.index, y=frame[column], name=column) for column in frame.columns])
    figure.update_layout(template=TEMPLATE, title="Normalised closes (first common date = 100)", height=420,
                         margin=MARGIN)
    return figure


def latency_chart(metrics: pd.DataFrame) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=("micro-batch latency (ms)", "rows / s"))
    for name, part in metrics.groupby("query_name"):
        figure.add_trace(go.Scatter(x=part["batch_time"], y=part["latency_p50_ms"], name=f"{name} p50"), row=1, col=1)
        figure.add_trace(go.Scatter(x=part["batch_time"], y=part["latency_p99_ms"], name=f"{name} p99",
                                    line={"dash": "dot"}), row=1, col=1)
        figure.add_trace(go.Scatter(x=part["batch_time"], y=part["processed_rows_per_second"],
                                    name=f"{name} rows/s"), row=2, col=1)
    figure.update_layout(template=TEMPLATE, height=520, margin=MARGIN, legend={"orientation": "h"})
    return figure


def dead_letter_chart(per_hour: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Bar(x=part["hour"], y=part["count"], name=str(reason))
                        for reason, part in per_hour.groupby("reason")])
    figure.update_layout(template=TEMPLATE, barmode="stack", title="Dead letters per hour by reason", height=340,
                         margin=MARGIN)
    return figure
