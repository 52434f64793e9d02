"""Geometric Brownian motion, dS = mu S dt + sigma S dW, as pure numpy functions: the maximum
likelihood estimator on irregularly spaced closes (calendar time, years of 365.25 days), exact
log-space path simulation, forecast quantiles, the terminal distribution, and the backtest.

Standard errors are the asymptotic ones of the MLE (inverse Fisher information; nu and sigma^2 are
asymptotically independent): se(nu) = sigma / sqrt(sum dt), se(sigma^2) = sigma^2 sqrt(2/n), so
se(sigma) = sigma / sqrt(2n), and by the delta method on mu = nu + sigma^2/2:
se(mu) = sqrt(sigma^2 / sum dt + sigma^4 / (2n)).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

SECONDS_PER_YEAR = 365.25 * 86400.0
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)


class ModelInputError(ValueError):
    """The observations cannot be used for an estimate; the message is the reason (one line)."""


@dataclass(frozen=True)
class Estimate:
    """The MLE of one symbol's GBM with standard errors; rates are per year."""

    mu: float
    sigma: float
    nu: float              # drift of ln S: mu - sigma^2/2
    se_mu: float
    se_sigma: float
    se_nu: float
    s0: float              # the last close: where the paths start
    observations: int      # closes used (returns + 1)
    elapsed_years: float   # sum of the spacings
    start_s: float         # epoch seconds of the first and last close
    end_s: float


@dataclass(frozen=True)
class Forecast:
    """Per step k = 1..steps (arrays of length steps) the mean and quantiles of S, and S at the horizon."""

    mean: np.ndarray
    p05: np.ndarray
    p25: np.ndarray
    p50: np.ndarray
    p75: np.ndarray
    p95: np.ndarray
    terminal: np.ndarray   # one price per path


@dataclass(frozen=True)
class Backtest:
    """An earlier forecast against the closes realised at its step times."""

    points: int
    coverage_p05_p95: float
    coverage_p25_p75: float
    mae: float
    rmse: float
    mape: float


def estimate(times_s: np.ndarray, closes: np.ndarray) -> Estimate:
    """The MLE of mu and sigma from closes at `times_s` (epoch seconds, strictly increasing).

    nu = sum r / sum dt; sigma^2 = (1/n) sum (r - nu dt)^2 / dt; mu = nu + sigma^2 / 2.
    Raises ModelInputError for fewer than two closes, non-finite or non-positive values, times that
    do not increase, or zero variance.
    """
    times = np.asarray(times_s, dtype=np.float64)
    prices = np.asarray(closes, dtype=np.float64)
    if times.shape != prices.shape or times.ndim != 1:
        raise ModelInputError(f"times and closes differ in shape: {times.shape} vs {prices.shape}")
    if prices.size < 2:
        raise ModelInputError(f"{prices.size} observation(s): at least 2 are needed")
    if not (np.all(np.isfinite(prices)) and np.all(np.isfinite(times))):
        raise ModelInputError("non-finite close or time")
    if np.any(prices <= 0):
        raise ModelInputError(f"non-positive close ({prices.min():g})")
    dt = np.diff(times) / SECONDS_PER_YEAR
    if np.any(dt <= 0):
        raise ModelInputError("observation times do not strictly increase")
    r = np.diff(np.log(prices))
    n = r.size
    elapsed = float(dt.sum())
    nu = float(r.sum() / elapsed)
    sigma2 = float(np.mean((r - nu * dt) ** 2 / dt))
    if not np.isfinite(sigma2) or sigma2 <= 0.0 or np.all(prices == prices[0]):
        raise ModelInputError("zero variance: the close never changes")
    sigma = float(np.sqrt(sigma2))
    return Estimate(
        mu=nu + sigma2 / 2.0, sigma=sigma, nu=nu,
        se_mu=float(np.sqrt(sigma2 / elapsed + sigma2 * sigma2 / (2.0 * n))),
        se_sigma=sigma / float(np.sqrt(2.0 * n)),
        se_nu=sigma / float(np.sqrt(elapsed)),
        s0=float(prices[-1]), observations=n + 1, elapsed_years=elapsed,
        start_s=float(times[0]), end_s=float(times[-1]),
    )


def path_rng(seed: int, symbol: str, run_epoch_ms: int) -> np.random.Generator:
    """The generator of one (symbol, run): the same three values give the same paths on any machine."""
    return np.random.default_rng([int(seed), zlib.crc32(symbol.encode("utf-8")), int(run_epoch_ms)])


def simulate_log_paths(mu: float, sigma: float, step_years: float, steps: int, paths: int,
                       rng: np.random.Generator, antithetic: bool = False,
                       dtype: type = np.float64) -> np.ndarray:
    """ln(S_k / S_0) for k = 1..steps on every path: an array (steps, paths).

    Exact scheme: each step adds (mu - sigma^2/2) dt + sigma sqrt(dt) Z with Z ~ N(0, 1), summed
    with a cumulative sum. With `antithetic`, paths j and j + paths/2 use Z and -Z (paths even).
    """
    if steps < 1 or paths < 1 or step_years <= 0:
        raise ModelInputError(f"steps={steps}, paths={paths}, step={step_years} years: all must be positive")
    if antithetic and paths % 2:
        raise ModelInputError(f"antithetic variates need an even number of paths, not {paths}")
    drawn = paths // 2 if antithetic else paths
    shocks = rng.standard_normal((steps, drawn), dtype=dtype)
    if antithetic:
        shocks = np.concatenate([shocks, -shocks], axis=1)
    shocks *= dtype(sigma * np.sqrt(step_years))
    shocks += dtype((mu - 0.5 * sigma * sigma) * step_years)
    return np.cumsum(shocks, axis=0, out=shocks)


def simulate_paths(s0: float, mu: float, sigma: float, step_years: float, steps: int, paths: int,
                   rng: np.random.Generator, antithetic: bool = False, dtype: type = np.float64) -> np.ndarray:
    """Prices S_1..S_steps on every path: an array (steps, paths)."""
    prices = simulate_log_paths(mu, sigma, step_years, steps, paths, rng, antithetic, dtype)
    np.exp(prices, out=prices)
    prices *= dtype(s0)
    return prices


def forecast(s0: float, mu: float, sigma: float, step_years: float, steps: int, paths: int,
             rng: np.random.Generator, antithetic: bool = False, dtype: type = np.float64) -> Forecast:
    """Simulate the paths and reduce them per step to mean and quantiles (linear interpolation)."""
    prices = simulate_paths(s0, mu, sigma, step_years, steps, paths, rng, antithetic, dtype)
    mean = prices.mean(axis=1, dtype=np.float64)
    terminal = prices[-1].astype(np.float64)
    # Rows are steps and contiguous: np.quantile partitions each row once for all five levels.
    levels = np.quantile(prices, QUANTILES, axis=1).astype(np.float64)
    return Forecast(mean=mean, p05=levels[0], p25=levels[1], p50=levels[2], p75=levels[3], p95=levels[4],
                    terminal=terminal)


def terminal_summary(terminal: np.ndarray, sample_size: int = 1000,
                     bins: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample, bin_edges, bin_counts) of the terminal prices: enough for a density plot.

    The sample is the first `sample_size` paths, independent draws (antithetic partners come after
    the first half); the histogram covers every path.
    """
    values = np.asarray(terminal, dtype=np.float64)
    sample = values[: min(sample_size, max(1, values.size // 2))].copy()
    counts, edges = np.histogram(values, bins=bins)
    return sample, edges, counts.astype(np.int64)


def backtest(step_times_s: np.ndarray, p05: np.ndarray, p25: np.ndarray, p50: np.ndarray, p75: np.ndarray,
             p95: np.ndarray, realised_times_s: np.ndarray, realised_closes: np.ndarray) -> Backtest | None:
    """Compare a forecast with the closes observed exactly at its step times; None when none exist."""
    step_times = np.asarray(step_times_s, dtype=np.float64)
    realised_times = np.asarray(realised_times_s, dtype=np.float64)
    _, at_step, at_close = np.intersect1d(step_times, realised_times, assume_unique=False, return_indices=True)
    if at_step.size == 0:
        return None
    actual = np.asarray(realised_closes, dtype=np.float64)[at_close]
    low90, high90 = np.asarray(p05)[at_step], np.asarray(p95)[at_step]
    low50, high50 = np.asarray(p25)[at_step], np.asarray(p75)[at_step]
    error = np.asarray(p50)[at_step] - actual
    return Backtest(
        points=int(at_step.size),
        coverage_p05_p95=float(np.mean((actual >= low90) & (actual <= high90))),
        coverage_p25_p75=float(np.mean((actual >= low50) & (actual <= high50))),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error * error))),
        mape=float(np.mean(np.abs(error) / actual)),
    )
