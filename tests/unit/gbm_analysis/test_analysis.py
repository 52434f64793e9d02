"""The per-symbol pandas function of the GBM job, without Spark: one result row per symbol, the
reason when a symbol is skipped, never a NaN or infinity, backtests of earlier forecasts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from gbm_analysis import model
from gbm_analysis.analysis import RESULT_COLUMNS, analyse_symbol
from gbm_analysis.options import GbmOptions

OPTIONS = GbmOptions(symbols=("AAA",), run_ts=datetime(2026, 3, 10, 1, 0, tzinfo=UTC), paths=400,
                     horizon_seconds=600)
EMPTY_EARLIER = pd.DataFrame({c: [] for c in ("symbol", "run_ms", "step_ms", "p05", "p25", "p50", "p75", "p95")})


def _closes(prices: list[float], step_ms: int = 60_000) -> pd.DataFrame:
    return pd.DataFrame({"symbol": "AAA", "t_ms": [1_700_000_000_000 + i * step_ms for i in range(len(prices))],
                         "close": prices})


def test_a_usable_symbol_gives_one_row_with_estimate_forecast_and_terminal_summary():
    prices = list(100 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.001, 50))))
    row = analyse_symbol(_closes(prices), EMPTY_EARLIER, OPTIONS)
    assert list(row.columns) == list(RESULT_COLUMNS) and len(row) == 1
    result = row.iloc[0]
    expected = model.estimate(np.array(_closes(prices)["t_ms"]) / 1000, np.array(prices))
    assert (result["status"], result["mu"], result["sigma"]) == ("ok", expected.mu, expected.sigma)
    assert all(len(result[name]) == 10 for name in ("mean", "p05", "p25", "p50", "p75", "p95"))
    assert len(result["sample"]) == 200 and result["bin_counts"].sum() == 400
    assert len(result["bt_run_ms"]) == 0


def test_a_run_whose_paths_overflow_is_skipped_instead_of_writing_infinity():
    prices = [1e-150, 1e150] * 20                     # sigma so large that exp overflows
    row = analyse_symbol(_closes(prices, step_ms=1), EMPTY_EARLIER, OPTIONS).iloc[0]
    assert row["status"] == "skipped" and row["skip_reason"].startswith("non-finite result in mean")
    assert row["mean"] is None and row["mu"] is None


def test_too_few_or_constant_closes_are_skipped_with_their_reason():
    few = analyse_symbol(_closes([10.0, 10.5]), EMPTY_EARLIER, OPTIONS).iloc[0]
    assert (few["status"], few["skip_reason"], few["observations"]) == (
        "skipped", "2 observations in the window, fewer than the minimum 30", 2)
    flat = analyse_symbol(_closes([42.0] * 40), EMPTY_EARLIER, OPTIONS).iloc[0]
    assert flat["skip_reason"] == "zero variance: the close never changes"


def test_earlier_forecasts_are_backtested_against_the_closes_at_their_step_times():
    prices = [100.0 + (i % 3) for i in range(40)]
    closes = _closes(prices)
    start = int(closes["t_ms"].iloc[30])
    earlier = pd.DataFrame({"symbol": "AAA", "run_ms": 5, "step_ms": [start + k * 60_000 for k in range(1, 6)],
                            "p05": 99.5, "p25": 100.5, "p50": 101.0, "p75": 101.5, "p95": 102.5})
    row = analyse_symbol(closes, earlier, OPTIONS).iloc[0]
    realised = np.array(prices[31:36])
    assert list(row["bt_run_ms"]) == [5] and list(row["bt_steps"]) == [5] and list(row["bt_points"]) == [5]
    assert row["bt_coverage_p05_p95"][0] == np.mean((realised >= 99.5) & (realised <= 102.5))
    assert row["bt_mae"][0] == np.mean(np.abs(101.0 - realised))
