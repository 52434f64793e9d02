"""GBM forecast: for a symbol and run, actual closes against the forecast's median, mean and
p05–p95 / p25–p75 bands past the run time; terminal-price histogram and KDE with the current
price; μ and σ with standard errors; backtest band coverage over the earlier runs."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui


def percent(value: float | None, digits: int = 3) -> str:
    """0.2812 -> "28.1 %": annual rates read as percentages, like every quote screen."""
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:.{digits}g} %"


def actual_closes(symbol: str, run: pd.Series, forecast: pd.DataFrame) -> pd.Series:
    """Closes from one horizon before the run to the forecast's last step: daily bars for daily runs."""
    run_ts = run["run_ts"]
    horizon = timedelta(seconds=float(run.get("horizon_seconds") or 3600))
    end = (forecast.index.max() if not forecast.empty else run_ts) + timedelta(seconds=1)
    start = run_ts - max(horizon, timedelta(minutes=30))
    if float(run.get("step_seconds") or 60) >= 86400:
        daily = ui.cached_read(data.daily_bars, symbol)
        closes = daily["close"]
        closes.index = closes.index.tz_localize("UTC")
        return closes[(closes.index >= start) & (closes.index < end)]
    bars = ui.cached_read(data.bars, "bars_1m", symbol, start.to_pydatetime(), end.to_pydatetime())
    return bars["close"]


def run_label(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC"


def estimates(run: pd.Series) -> None:
    columns = st.columns(5)
    columns[0].metric("μ (drift, per year)", percent(run["mu"]), help="annualised drift of log prices")
    columns[1].metric("σ (volatility, per year)", percent(run["sigma"]), help="annualised volatility")
    columns[2].metric("S₀ (last close)", f"{run['s0']:,.6g}")
    columns[3].metric("observations", f"{int(run['observations'] or 0):,}")
    columns[4].metric("paths × steps", f"{int(run['paths'] or 0):,} × {int(run['steps'] or 0):,}")
    st.caption(f"standard errors: μ ± {percent(run.get('mu_se'), 2)}, σ ± {percent(run.get('sigma_se'), 2)}")


def render() -> None:
    st.title("GBM forecast")
    settings = ui.settings()
    symbol = ui.pick_symbol(settings.symbols, lambda s: not data.gbm_runs(ui.store(), s, 1).empty, key="gbm-symbol")
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
    hours, step = float(run["horizon_seconds"] or 0) / 3600, float(run["step_seconds"] or 0)
    st.caption(f"estimated from {run['estimation_start']:%Y-%m-%d %H:%M} to {run['estimation_end']:%Y-%m-%d %H:%M}"
               f" UTC · horizon {hours:,.4g} h at {step:,.0f} s steps")
    forecast = ui.cached_read(data.gbm_forecast, symbol, run_ts.to_pydatetime())
    if forecast.empty:
        st.warning(f"Run {chosen} has no forecast rows.")
    else:
        actual = actual_closes(symbol, run, forecast)
        start = run.get("forecast_start")
        now = start if isinstance(start, pd.Timestamp) and pd.notna(start) else run_ts
        if now < forecast.index.min():  # the fan starts at S0 at the forecast's origin
            origin = pd.DataFrame({column: [float(run["s0"])] for column in forecast.columns}, index=[now])
            forecast = pd.concat([origin, forecast])
        ui.plotly(charts.gbm_fan(actual, forecast, now, f"{symbol}: actual vs GBM forecast"), key="gbm-fan")
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
        st.info("No backtest yet: each run checks the earlier runs' forecasts against the closes realised since.")
        return
    columns = st.columns(3)
    columns[0].metric("mean coverage p05–p95 (nominal 90 %)", f"{backtest['coverage_p05_p95'].mean():.1%}")
    columns[1].metric("mean coverage p25–p75 (nominal 50 %)", f"{backtest['coverage_p25_p75'].mean():.1%}")
    columns[2].metric("backtested runs", f"{len(backtest):,}")
    ui.plotly(charts.coverage_chart(backtest), key="gbm-coverage")
    st.dataframe(backtest.sort_values("run_ts", ascending=False), hide_index=True, width="stretch",
                 key="gbm-backtest")


ui.run_page(render)
