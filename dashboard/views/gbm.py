"""GBM forecast: for a symbol and run, actual closes against the forecast's median, mean and
p05–p95 / p25–p75 bands past the run time; terminal-price histogram and KDE with the current
price; μ and σ with standard errors; backtest band coverage over the earlier runs."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, formatting, ui


def actual_closes(symbol: str, run: pd.Series, forecast: pd.DataFrame) -> pd.Series:
    """Closes from one horizon before the run to the forecast's last step: daily bars for daily runs."""
    run_ts = run["run_ts"]
    horizon = timedelta(seconds=float(run.get("horizon_seconds") or 3600))
    end = (forecast.index.max() if not forecast.empty else run_ts) + timedelta(seconds=1)
    start = run_ts - max(horizon, timedelta(minutes=30))
    step = float(run.get("step_seconds") or 60)
    if step >= 86400:
        daily = ui.cached_read(data.daily_bars, symbol)
        closes = daily["close"]
        closes.index = closes.index.tz_localize("UTC")
        return closes[(closes.index >= start) & (closes.index < end)]
    table = "trades_5s" if step < 60 else "bars_1m"   # a first run on 5 s windows is drawn against them
    bars = ui.cached_read(data.bars, table, symbol, start.to_pydatetime(), end.to_pydatetime())
    return bars["close"]


def run_label(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC"


BAR_SOURCES = {5.0: "5 s windows (trades_5s)", 60.0: "1 min bars (bars_1m)", 86400.0: "daily bars (daily_bars)"}


def estimates(run: pd.Series) -> None:
    columns = st.columns(5)
    columns[0].metric("μ (drift, per year)", formatting.percent(run["mu"]),
                      help="annualised drift; estimated from minutes of data it is mostly noise (see below)")
    columns[1].metric("σ (volatility, per year)", formatting.percent(run["sigma"]), help="annualised volatility")
    columns[2].metric("S₀ (last close)", formatting.price(run["s0"]))
    columns[3].metric("observations", f"{int(run['observations'] or 0):,}")
    columns[4].metric("paths × steps", f"{formatting.count(run['paths'] or 0)} × {formatting.count(run['steps'] or 0)}",
                      help=f"{int(run['paths'] or 0):,} Monte Carlo paths of {int(run['steps'] or 0):,} steps")
    st.caption(f"standard errors: μ ± {formatting.percent(run.get('mu_se'), 2)}, "
               f"σ ± {formatting.percent(run.get('sigma_se'), 2)} · "
               + formatting.drift_line(run["mu"], run.get("mu_se"), run.get("horizon_seconds")))


def render() -> None:
    st.title("GBM forecast")
    settings = ui.settings()
    symbol = ui.pick_symbol(settings.feed.symbols, lambda s: not data.gbm_runs(ui.store(), s, 1).empty,
                            key="gbm-symbol")
    if symbol is None:
        return
    runs = ui.cached_read(data.gbm_runs, symbol, 200)
    if runs.empty:
        ui.empty_database(f"GBM runs for {symbol}",
                          "tickplant gbm      # one run now (tickplant up runs it every hour)")
        return
    labels = [run_label(ts) for ts in runs["run_ts"]]
    chosen = st.selectbox("Run", labels, index=0, key="gbm-run")
    run = runs.iloc[labels.index(chosen)]
    run_ts = run["run_ts"]
    if run.get("status") == "skipped" or pd.isna(run.get("mu")):
        st.warning(f"The run of {chosen} skipped {symbol}: {run.get('skip_reason') or 'no estimate stored'}.")
        return
    estimates(run)
    step = float(run["step_seconds"] or 0)
    now_utc = pd.Timestamp.now(tz="UTC")
    start = run.get("forecast_start")
    origin = start if isinstance(start, pd.Timestamp) and pd.notna(start) else None
    source = BAR_SOURCES.get(step, f"{step:,.0f} s bars")
    st.caption(f"estimated from {source}, {run['estimation_start']:%Y-%m-%d %H:%M:%S} to "
               f"{run['estimation_end']:%Y-%m-%d %H:%M:%S} UTC · horizon "
               f"{formatting.duration(run['horizon_seconds'])} at {step:,.0f} s steps · "
               + formatting.data_age_line(run_ts, origin, now_utc))
    # only the newest run's plan is current; an older run's "next run" has happened (or not) since
    next_run = formatting.next_run_line(run.get("next_run_ts"), now_utc) if chosen == labels[0] else None
    if next_run:
        st.caption(next_run + (" (then hourly, on 1 min bars once 30 exist)" if step < 60 else ""))
    forecast = ui.cached_read(data.gbm_forecast, symbol, run_ts.to_pydatetime())
    if forecast.empty:
        st.warning(f"Run {chosen} has no forecast rows.")
    else:
        actual = actual_closes(symbol, run, forecast)
        now = origin if origin is not None else run_ts
        if now < forecast.index.min():  # the fan starts at S0 at the forecast's origin
            first = pd.DataFrame({column: [float(run["s0"])] for column in forecast.columns}, index=[now])
            forecast = pd.concat([first, forecast])
        ui.plotly(charts.gbm_fan(actual, forecast, now, f"{symbol}: actual vs GBM forecast",
                                 formatting.origin_label(run_ts, origin, step)), key="gbm-fan")
    terminal = ui.cached_read(data.gbm_terminal, symbol, run_ts.to_pydatetime())
    latest = ui.cached_read(data.latest_price, symbol)
    current = float(latest["price"]) if latest else float(run["s0"])
    left, right = st.columns(2)
    if not terminal or not terminal["bin_counts"]:
        left.info("This run stored no terminal-price histogram.")
    else:
        with left:
            ui.plotly(charts.terminal_histogram(terminal["bin_edges"], terminal["bin_counts"], current),
                      key="gbm-histogram")
    if not terminal or len(terminal["sample"]) < 2:
        right.info("This run stored no terminal-price sample.")
    else:
        with right:
            ui.plotly(charts.terminal_density(terminal["sample"], current, float(run["s0"])), key="gbm-density")
    st.subheader("Backtest")
    backtest = ui.cached_read(data.gbm_backtest, symbol)
    if backtest.empty:
        st.caption("Each run scores the earlier runs' forecasts against the closes realised since: the first "
                   "scores appear with the run after this symbol's first.")
        return
    columns = st.columns(3)
    columns[0].metric("mean coverage p05–p95 (nominal 90 %)", f"{backtest['coverage_p05_p95'].mean():.1%}")
    columns[1].metric("mean coverage p25–p75 (nominal 50 %)", f"{backtest['coverage_p25_p75'].mean():.1%}")
    columns[2].metric("backtested runs", f"{len(backtest):,}")
    ui.plotly(charts.coverage_chart(backtest), key="gbm-coverage")
    st.dataframe(backtest.sort_values("run_ts", ascending=False), hide_index=True, width="stretch",
                 key="gbm-backtest")


ui.run_page(render)
