"""One symbol's whole analysis as a pandas function for `cogroup(...).applyInPandas`: its closes and
its earlier forecasts in, one result row out (estimate, forecast arrays, terminal summary, backtests,
or the reason it was skipped). Pure pandas and numpy: tests call it without Spark.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from gbm_analysis import model
from gbm_analysis.options import GbmOptions

CLOSES_SCHEMA = "symbol string, t_ms long, close double"
EARLIER_SCHEMA = "symbol string, run_ms long, step_ms long, p05 double, p25 double, p50 double, p75 double, p95 double"
RESULT_SCHEMA = (
    "symbol string, status string, skip_reason string, "
    "mu double, sigma double, nu double, se_mu double, se_sigma double, se_nu double, s0 double, "
    "observations int, start_ms long, end_ms long, duration_seconds double, "
    "mean array<double>, p05 array<double>, p25 array<double>, p50 array<double>, p75 array<double>, "
    "p95 array<double>, sample array<double>, bin_edges array<double>, bin_counts array<long>, "
    "bt_run_ms array<long>, bt_steps array<int>, bt_points array<int>, bt_coverage_p05_p95 array<double>, "
    "bt_coverage_p25_p75 array<double>, bt_mae array<double>, bt_rmse array<double>, bt_mape array<double>"
)
RESULT_COLUMNS = tuple(field.split(" ")[0] for field in RESULT_SCHEMA.split(", "))
FORECAST_FIELDS = ("mean", "p05", "p25", "p50", "p75", "p95")
BACKTEST_FIELDS = ("coverage_p05_p95", "coverage_p25_p75", "mae", "rmse", "mape")


def skipped(symbol: str, reason: str, observations: int = 0) -> dict:
    return {"symbol": symbol, "status": "skipped", "skip_reason": reason, "observations": observations}


def analyse_symbol(closes: pd.DataFrame, earlier: pd.DataFrame, options: GbmOptions) -> pd.DataFrame:
    """Estimate, simulate and backtest one symbol; a symbol that cannot be run gets its skip reason."""
    started = time.perf_counter()
    symbol = str(closes["symbol"].iloc[0] if len(closes) else earlier["symbol"].iloc[0])
    try:
        row = _analyse(symbol, closes.sort_values("t_ms"), earlier, options)
    except Exception as exc:  # one symbol's failure must not fail the other symbols' run
        row = skipped(symbol, f"analysis failed: {type(exc).__name__}: {exc}"[:300], len(closes))
    row["duration_seconds"] = time.perf_counter() - started
    return pd.DataFrame({column: [row.get(column)] for column in RESULT_COLUMNS})


def _analyse(symbol: str, closes: pd.DataFrame, earlier: pd.DataFrame, options: GbmOptions) -> dict:
    n = len(closes)
    if n < options.min_observations:
        return skipped(symbol, f"{n} observations in the window, fewer than the minimum "
                               f"{options.min_observations}", n)
    times_ms = closes["t_ms"].to_numpy(dtype=np.int64)
    prices = closes["close"].to_numpy(dtype=np.float64)
    try:
        est = model.estimate(times_ms / 1000.0, prices)
    except model.ModelInputError as exc:
        return skipped(symbol, str(exc), n)
    rng = model.path_rng(options.seed, symbol, options.run_ms)
    with np.errstate(over="ignore", invalid="ignore"):   # overflow is caught below, as a skip reason
        result = model.forecast(est.s0, est.mu, est.sigma, options.step_seconds / model.SECONDS_PER_YEAR,
                                options.steps, options.paths, rng, options.antithetic,
                                np.float32 if options.float32 else np.float64)
    forecast = {name: getattr(result, name) for name in (*FORECAST_FIELDS, "terminal")}
    bad = [name for name, values in forecast.items() if _non_finite(values)]
    if bad:
        return skipped(symbol, f"non-finite result in {', '.join(bad)} (sigma {est.sigma:g}, mu {est.mu:g})", n)
    sample, edges, counts = model.terminal_summary(result.terminal)
    row = {
        "symbol": symbol, "status": "ok", "skip_reason": None, "mu": est.mu, "sigma": est.sigma,
        "nu": est.nu, "se_mu": est.se_mu, "se_sigma": est.se_sigma, "se_nu": est.se_nu, "s0": est.s0,
        "observations": est.observations, "start_ms": int(times_ms[0]), "end_ms": int(times_ms[-1]),
        **{name: forecast[name] for name in FORECAST_FIELDS},
        "sample": sample, "bin_edges": edges, "bin_counts": counts,
        **_backtests(earlier, times_ms, prices),
    }
    bad = [key for key, value in row.items() if _non_finite(value)]
    if bad:  # never write NaN or infinity: a run that produced one is reported instead
        return skipped(symbol, f"non-finite result in {', '.join(bad)} (sigma {est.sigma:g}, mu {est.mu:g})", n)
    return row


def _backtests(earlier: pd.DataFrame, times_ms: np.ndarray, prices: np.ndarray) -> dict:
    """Every earlier run's forecast against the closes realised at its step times."""
    found: dict[str, list] = {"bt_run_ms": [], "bt_steps": [], "bt_points": [],
                              **{f"bt_{name}": [] for name in BACKTEST_FIELDS}}
    for run_ms, forecast in earlier.groupby("run_ms", sort=True):
        forecast = forecast.sort_values("step_ms")
        scored = model.backtest(forecast["step_ms"].to_numpy(dtype=np.float64),
                                *(forecast[q].to_numpy(dtype=np.float64) for q in ("p05", "p25", "p50", "p75", "p95")),
                                times_ms.astype(np.float64), prices)
        if scored is None:
            continue
        found["bt_run_ms"].append(int(run_ms))
        found["bt_steps"].append(len(forecast))
        found["bt_points"].append(scored.points)
        for name in BACKTEST_FIELDS:
            found[f"bt_{name}"].append(getattr(scored, name))
    return {key: np.asarray(values, dtype=np.int64 if key in ("bt_run_ms", "bt_steps", "bt_points") else np.float64)
            for key, values in found.items()}


def _non_finite(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and not bool(np.all(np.isfinite(value)))
    return isinstance(value, float) and not np.isfinite(value)
