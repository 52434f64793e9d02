"""The GBM model against its closed forms: moments and quantiles of S_T, the estimator on irregularly
spaced simulated paths, standard errors, seeding, antithetic variates, the backtest and bad input."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from gbm_analysis import model
from gbm_analysis.model import SECONDS_PER_YEAR, ModelInputError

S0, MU, SIGMA, T, STEPS = 100.0, 0.12, 0.35, 0.5, 24


def _terminal(paths: int, antithetic: bool = False, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return model.simulate_paths(S0, MU, SIGMA, T / STEPS, STEPS, paths, rng, antithetic)[-1]


def test_monte_carlo_mean_and_variance_of_terminal_price_within_3_standard_errors_of_closed_form():
    terminal = _terminal(400_000)
    n = terminal.size
    expected_mean = S0 * math.exp(MU * T)
    expected_var = S0**2 * math.exp(2 * MU * T) * (math.exp(SIGMA**2 * T) - 1)
    mean_se = terminal.std(ddof=1) / math.sqrt(n)
    assert abs(terminal.mean() - expected_mean) < 3 * mean_se
    centred = terminal - terminal.mean()
    sample_var = centred.var(ddof=1)
    var_se = math.sqrt((np.mean(centred**4) - sample_var**2) / n)
    assert abs(sample_var - expected_var) < 3 * var_se


def test_antithetic_mean_within_3_standard_errors_and_pairs_mirror_each_other():
    paths = 200_000
    terminal = _terminal(paths, antithetic=True)
    first, second = terminal[: paths // 2], terminal[paths // 2:]
    drift = math.log(S0) + (MU - SIGMA**2 / 2) * T
    # ln S and its antithetic partner are symmetric around the log drift.
    np.testing.assert_allclose(np.log(first) - drift, drift - np.log(second), rtol=0, atol=1e-9)
    pair_means = (first + second) / 2
    se = pair_means.std(ddof=1) / math.sqrt(pair_means.size)
    assert abs(pair_means.mean() - S0 * math.exp(MU * T)) < 3 * se


def test_forecast_quantiles_match_lognormal_quantiles_at_every_checked_step():
    paths = 200_000
    result = model.forecast(S0, MU, SIGMA, T / STEPS, STEPS, paths, np.random.default_rng(5))
    for step in (1, STEPS // 2, STEPS):
        t = T * step / STEPS
        log_dist = NormalDist(math.log(S0) + (MU - SIGMA**2 / 2) * t, SIGMA * math.sqrt(t))
        for level, values in zip(model.QUANTILES, (result.p05, result.p25, result.p50, result.p75, result.p95),
                                 strict=True):
            x = log_dist.inv_cdf(level)
            se = math.sqrt(level * (1 - level) / paths) / log_dist.pdf(x)
            assert abs(math.log(values[step - 1]) - x) < 4 * se, (step, level)
        mean_se = SIGMA * math.sqrt(t) * S0 * 2 / math.sqrt(paths)  # generous bound on sd(S_t)/sqrt(n)
        assert abs(result.mean[step - 1] - S0 * math.exp(MU * t)) < 3 * mean_se
    assert result.terminal.shape == (paths,)
    assert np.all(result.p05 < result.p25) and np.all(result.p25 < result.p50)
    assert np.all(result.p50 < result.p75) and np.all(result.p75 < result.p95)


def _irregular_path(rng: np.random.Generator, n: int, mu: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """A GBM observed at irregular times: gaps of 1 s to 3 days (nights, weekends, missing bars)."""
    gaps = rng.choice([60.0, 60.0, 60.0, 120.0, 1.0, 3600.0 * 16, 86400.0 * 3], size=n)
    times = 1_700_000_000.0 + np.concatenate([[0.0], np.cumsum(gaps)])
    dt = gaps / SECONDS_PER_YEAR
    log_steps = (mu - sigma**2 / 2) * dt + sigma * np.sqrt(dt) * rng.standard_normal(n)
    return times, 50.0 * np.exp(np.concatenate([[0.0], np.cumsum(log_steps)]))


def test_estimator_recovers_mu_and_sigma_from_irregularly_spaced_path_within_3_standard_errors():
    times, closes = _irregular_path(np.random.default_rng(3), 20_000, mu=0.4, sigma=0.3)
    est = model.estimate(times, closes)
    assert est.observations == 20_001
    assert abs(est.sigma - 0.3) < 3 * est.se_sigma
    assert abs(est.mu - 0.4) < 3 * est.se_mu
    assert est.se_sigma == pytest.approx(est.sigma / math.sqrt(2 * 20_000), rel=1e-12)
    assert est.s0 == closes[-1] and est.start_s == times[0] and est.end_s == times[-1]


def test_standard_errors_cover_the_truth_at_their_nominal_rate_over_many_paths():
    rng = np.random.default_rng(17)
    z_sigma, z_mu = [], []
    for _ in range(300):
        times, closes = _irregular_path(rng, 400, mu=0.8, sigma=0.6)
        est = model.estimate(times, closes)
        z_sigma.append((est.sigma - 0.6) / est.se_sigma)
        z_mu.append((est.mu - 0.8) / est.se_mu)
    # 95 % intervals: 300 draws give 0.95 +- 0.013 (one sd); allow 3 sd.
    assert 0.91 <= np.mean(np.abs(z_sigma) < 1.96) <= 0.99
    assert 0.91 <= np.mean(np.abs(z_mu) < 1.96) <= 0.99


def test_estimator_equals_formulas_written_out_on_a_small_example():
    times = np.array([0.0, 60.0, 180.0, 86400.0 * 2])
    closes = np.array([10.0, 10.5, 10.2, 11.0])
    est = model.estimate(times, closes)
    r = [math.log(10.5 / 10), math.log(10.2 / 10.5), math.log(11.0 / 10.2)]
    dt = [60 / SECONDS_PER_YEAR, 120 / SECONDS_PER_YEAR, (172800 - 180) / SECONDS_PER_YEAR]
    nu = sum(r) / sum(dt)
    sigma2 = sum((ri - nu * di) ** 2 / di for ri, di in zip(r, dt, strict=True)) / 3
    assert est.nu == pytest.approx(nu, rel=1e-12)
    assert est.sigma == pytest.approx(math.sqrt(sigma2), rel=1e-12)
    assert est.mu == pytest.approx(nu + sigma2 / 2, rel=1e-12)
    assert est.se_mu == pytest.approx(math.sqrt(sigma2 / sum(dt) + sigma2**2 / 6), rel=1e-12)
    assert est.se_nu == pytest.approx(math.sqrt(sigma2 / sum(dt)), rel=1e-12)


def test_same_seed_symbol_and_run_give_identical_forecasts_and_others_differ():
    def run(seed: int, symbol: str, run_ms: int) -> model.Forecast:
        return model.forecast(S0, MU, SIGMA, 1 / 525960, 30, 2000, model.path_rng(seed, symbol, run_ms))

    a, b = run(1, "AAPL", 1_700_000_000_000), run(1, "AAPL", 1_700_000_000_000)
    for name in ("mean", "p05", "p25", "p50", "p75", "p95", "terminal"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.terminal, run(2, "AAPL", 1_700_000_000_000).terminal)
    assert not np.array_equal(a.terminal, run(1, "MSFT", 1_700_000_000_000).terminal)
    assert not np.array_equal(a.terminal, run(1, "AAPL", 1_700_000_060_000).terminal)


@pytest.mark.parametrize(("times", "closes", "reason"), [
    ([0.0], [10.0], "1 observation(s): at least 2 are needed"),
    ([0.0, 60.0, 120.0], [10.0, 10.0, 10.0], "zero variance: the close never changes"),
    ([0.0, 60.0], [10.0, 0.0], "non-positive close (0)"),
    ([0.0, 60.0], [10.0, -3.0], "non-positive close (-3)"),
    ([0.0, 60.0], [10.0, float("nan")], "non-finite close or time"),
    ([0.0, 60.0], [10.0, float("inf")], "non-finite close or time"),
    ([0.0, 0.0], [10.0, 11.0], "observation times do not strictly increase"),
])
def test_unusable_observations_are_refused_with_their_reason(times, closes, reason):
    with pytest.raises(ModelInputError) as raised:
        model.estimate(np.array(times), np.array(closes))
    assert str(raised.value) == reason


def test_two_points_give_zero_variance_and_are_refused():
    with pytest.raises(ModelInputError, match="zero variance"):
        model.estimate(np.array([0.0, 60.0]), np.array([10.0, 11.0]))


def test_antithetic_with_odd_paths_is_refused():
    with pytest.raises(ModelInputError, match="even number of paths"):
        model.simulate_log_paths(0.1, 0.2, 0.01, 5, 7, np.random.default_rng(1), antithetic=True)


def test_terminal_summary_has_a_sample_of_independent_paths_and_a_histogram_of_all():
    terminal = np.arange(1.0, 10_001.0)
    sample, edges, counts = model.terminal_summary(terminal, sample_size=1000, bins=50)
    np.testing.assert_array_equal(sample, np.arange(1.0, 1001.0))
    assert edges.size == 51 and edges[0] == 1.0 and edges[-1] == 10_000.0
    assert counts.sum() == 10_000 and counts.dtype == np.int64


def test_backtest_counts_band_coverage_and_median_errors_at_matching_times_only():
    steps = np.array([60.0, 120.0, 180.0, 240.0])
    p05, p25 = np.array([90.0, 90, 90, 90]), np.array([95.0, 95, 95, 95])
    p50 = np.array([100.0, 100, 100, 100])
    p75, p95 = np.array([105.0, 105, 105, 105]), np.array([110.0, 110, 110, 110])
    realised_t = np.array([0.0, 60.0, 120.0, 240.0, 300.0])   # 180 missing, 0 and 300 outside
    realised = np.array([1.0, 104.0, 80.0, 100.0, 1.0])
    result = model.backtest(steps, p05, p25, p50, p75, p95, realised_t, realised)
    assert result == model.Backtest(points=3, coverage_p05_p95=2 / 3, coverage_p25_p75=2 / 3,
                                    mae=(4 + 20 + 0) / 3, rmse=math.sqrt((16 + 400) / 3),
                                    mape=(4 / 104 + 20 / 80) / 3)
    assert model.backtest(steps, p05, p25, p50, p75, p95, np.array([1.0]), np.array([5.0])) is None
