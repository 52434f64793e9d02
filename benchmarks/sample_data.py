"""Synthetic market data written through prepared inserts of the real schema: trades aggregated
into `trades_5s` / `bars_1m` / `latest_prices` as the stream processor stores them, daily bars,
GBM runs, pipeline metrics and dead letters. Test and benchmark data, not product code: the dashboard
tests and `tickplant bench dashboard` fill keyspaces with it (here, so the benchmarks import no tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

YEAR_S = 365.25 * 86400


@dataclass(frozen=True)
class TradeSpec:
    """A symbol's synthetic trades: GBM prices at Poisson-spaced times over [start, end)."""

    symbol: str
    start: datetime
    end: datetime
    rate_per_s: float
    s0: float = 100.0
    sigma: float = 0.3
    seed: int = 1


def synthetic_trades(spec: TradeSpec) -> pd.DataFrame:
    """Columns trade_timestamp (UTC, ms), price, volume; exact log-space GBM in calendar time."""
    rng = np.random.default_rng(spec.seed)
    seconds = (spec.end - spec.start).total_seconds()
    count = max(2, int(rng.poisson(spec.rate_per_s * seconds)))
    offsets_ms = np.sort(rng.integers(0, int(seconds * 1000), size=count))
    dt_years = np.diff(offsets_ms, prepend=offsets_ms[0]) / 1000 / YEAR_S
    steps = -0.5 * spec.sigma**2 * dt_years + spec.sigma * np.sqrt(dt_years) * rng.standard_normal(count)
    prices = np.round(spec.s0 * np.exp(np.cumsum(steps)), 4)
    times = pd.to_datetime(int(spec.start.timestamp() * 1000) + offsets_ms, unit="ms", utc=True)
    volumes = np.round(rng.uniform(0.01, 10.0, size=count), 3)
    return pd.DataFrame({"trade_timestamp": times, "price": prices, "volume": volumes})


def aggregate(trades: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Windows of `seconds` as the stream processor aggregates them: OHLC, volume, count, VWAP."""
    frame = trades.assign(start=trades["trade_timestamp"].dt.floor(f"{seconds}s"),
                          pv=trades["price"] * trades["volume"])
    grouped = frame.sort_values("trade_timestamp").groupby("start")
    out = grouped.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"),
                      close=("price", "last"), volume=("volume", "sum"), trade_count=("price", "size"),
                      pv=("pv", "sum"))
    out["vwap"] = out["pv"] / out["volume"]
    return out.drop(columns="pv")


def _run(session: Session, cql: str, rows: Sequence[tuple], concurrency: int = 64) -> int:
    if rows:
        execute_concurrent_with_args(session, session.prepare(cql), rows, concurrency=concurrency,
                                     raise_on_first_error=True)
    return len(rows)


def _py(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime()


def write_market(session: Session, keyspace: str, symbol: str, trades: pd.DataFrame) -> dict[str, int]:
    """trades_5s, bars_1m and latest_prices of `trades`; returns the rows written per table."""
    written = {}
    for table, key, seconds in (("trades_5s", "window_start", 5), ("bars_1m", "bar_start", 60)):
        windows = aggregate(trades, seconds)
        extra = ", window_end" if table == "trades_5s" else ""
        marks = ", ?" if table == "trades_5s" else ""
        cql = (f"INSERT INTO {keyspace}.{table} (symbol, trade_date, {key}{extra}, open, high, low, close, volume, "
               f"trade_count, vwap) VALUES (?, ?, ?{marks}, ?, ?, ?, ?, ?, ?, ?)")
        rows = []
        for start, row in windows.iterrows():
            head: tuple[Any, ...] = (symbol, start.date(), _py(start))
            if table == "trades_5s":
                head += (_py(start + pd.Timedelta(seconds=5)),)
            rows.append(head + (row.open, row.high, row.low, row.close, row.volume, int(row.trade_count), row.vwap))
        written[table] = _run(session, cql, rows)
    last = trades.sort_values("trade_timestamp").iloc[-1]
    _run(session, f"INSERT INTO {keyspace}.latest_prices (symbol, price, volume, trade_timestamp) VALUES (?, ?, ?, ?)",
         [(symbol, float(last.price), float(last.volume), _py(last.trade_timestamp))])
    written["latest_prices"] = 1
    return written


def write_daily(session: Session, keyspace: str, symbol: str, first_day: datetime, days: int,
                s0: float = 100.0, sigma: float = 0.25, seed: int = 7) -> pd.DataFrame:
    """`days` business-day closes from `first_day` (a GBM), written to daily_bars; returns them."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(first_day, periods=days)
    dt = 1 / 252
    closes = np.round(s0 * np.exp(np.cumsum(-0.5 * sigma**2 * dt + sigma * np.sqrt(dt) * rng.standard_normal(days))), 4)
    frame = pd.DataFrame({"close": closes}, index=dates)
    rows = [(symbol, day.date(), c * 0.998, c * 1.01, c * 0.99, c, c, float(1000 + i)) for i, (day, c)
            in enumerate(zip(dates, closes, strict=True))]
    _run(session, f"INSERT INTO {keyspace}.daily_bars (symbol, trade_date, open, high, low, close, adj_close, volume) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return frame


@dataclass(frozen=True)
class GbmRunSpec:
    symbol: str
    run_ts: datetime
    s0: float
    mu: float
    sigma: float
    steps: int = 60
    step_seconds: float = 60.0
    observations: int = 1440
    se_mu: float = 0.5
    se_sigma: float = 0.01


def write_gbm_run(session: Session, keyspace: str, spec: GbmRunSpec, sample_size: int = 500,
                  seed: int = 3) -> dict[str, Any]:
    """A run with its forecast quantiles (lognormal, exact), terminal sample and histogram."""
    from scipy.stats import norm

    t = np.arange(1, spec.steps + 1) * spec.step_seconds / YEAR_S
    drift, vol = (spec.mu - 0.5 * spec.sigma**2) * t, spec.sigma * np.sqrt(t)
    quantile = {name: spec.s0 * np.exp(drift + vol * norm.ppf(q))
                for name, q in (("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))}
    mean = spec.s0 * np.exp(spec.mu * t)
    steps = [spec.run_ts + timedelta(seconds=float(k * spec.step_seconds)) for k in range(1, spec.steps + 1)]
    window = timedelta(seconds=spec.observations * spec.step_seconds)
    _run(session, f"INSERT INTO {keyspace}.gbm_runs (symbol, run_ts, mu, sigma, s0, paths, steps, horizon_seconds, "
                  "step_seconds, estimation_start, estimation_end, observations, diagnostics, status, se_mu, se_sigma, "
                  "forecast_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [(spec.symbol, spec.run_ts, spec.mu, spec.sigma, spec.s0, 10_000, spec.steps,
           spec.steps * spec.step_seconds, spec.step_seconds, spec.run_ts - window, spec.run_ts,
           spec.observations, {"log_likelihood": 1.0}, "ok", spec.se_mu, spec.se_sigma, spec.run_ts)])
    _run(session, f"INSERT INTO {keyspace}.gbm_forecasts (symbol, run_ts, step_ts, mean, p05, p25, p50, p75, p95) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [(spec.symbol, spec.run_ts, step, float(mean[i]), *(float(quantile[q][i]) for q in
                                                           ("p05", "p25", "p50", "p75", "p95")))
          for i, step in enumerate(steps)])
    rng = np.random.default_rng(seed)
    sample = spec.s0 * np.exp(drift[-1] + vol[-1] * rng.standard_normal(sample_size))
    counts, edges = np.histogram(sample, bins=30)
    _run(session, f"INSERT INTO {keyspace}.gbm_terminal (symbol, run_ts, sample, bin_edges, bin_counts) "
                  "VALUES (?, ?, ?, ?, ?)",
         [(spec.symbol, spec.run_ts, [float(v) for v in sample], [float(v) for v in edges],
           [int(c) for c in counts])])
    return {"forecast_steps": steps, "p50": quantile["p50"], "sample": sample}


def write_backtest(session: Session, keyspace: str, symbol: str, rows: Sequence[tuple[datetime, float, float]]) -> None:
    """(run_ts, coverage_p05_p95, coverage_p25_p75) rows with fixed errors."""
    _run(session, f"INSERT INTO {keyspace}.gbm_backtest (symbol, run_ts, forecast_run_ts, points, coverage_p05_p95, "
                  "coverage_p25_p75, mae, rmse, mape) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [(symbol, ts, ts, 60, c90, c50, 0.5, 0.7, 0.01) for ts, c90, c50 in rows])


def write_metrics(session: Session, keyspace: str, query_name: str,
                  batches: Sequence[tuple[datetime, int, float, float]]) -> None:
    """(batch_time, input_rows, latency_p50_ms, latency_p99_ms) rows, 1 s per batch."""
    _run(session, f"INSERT INTO {keyspace}.pipeline_metrics (query_name, day, batch_time, batch_id, input_rows, "
                  "late_rows, duration_ms, input_rows_per_second, processed_rows_per_second, latency_p50_ms, "
                  "latency_p99_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [(query_name, ts.astimezone(UTC).date(), ts, i, rows, 0, 1000, float(rows), float(rows), p50, p99)
          for i, (ts, rows, p50, p99) in enumerate(batches)])


def write_dead_letters(session: Session, keyspace: str, letters: Sequence[tuple[datetime, str]]) -> None:
    """(received_at, reason) rows."""
    _run(session, f"INSERT INTO {keyspace}.dead_letters (day, received_at, id, source, reason, payload) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
         [(ts.astimezone(UTC).date(), ts, f"dl-{i}", "stream", reason, b"{}")
          for i, (ts, reason) in enumerate(letters)])
