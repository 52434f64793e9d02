"""The dashboard's indicator maths against known values (published RSI example, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import indicators

# Wilder RSI 14 worked example (StockCharts' "cs-rsi" table): closes and the RSI from the 15th close on.
RSI_CLOSES = [44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826, 45.8931,
              46.0328, 45.614, 46.282, 46.282, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439, 46.2122, 46.2521,
              45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672, 43.4205, 42.6628, 43.1314]
RSI_EXPECTED = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
                41.87, 45.46, 37.30, 33.08, 37.77]


def test_rsi_matches_wilders_published_example():
    values = indicators.rsi(pd.Series(RSI_CLOSES), 14)
    assert values.iloc[:14].isna().all()
    assert values.iloc[14:].round(2).tolist() == RSI_EXPECTED


def test_rsi_is_100_without_losses_and_0_without_gains():
    assert indicators.rsi(pd.Series(np.arange(1.0, 21.0)), 14).iloc[-1] == 100.0
    assert indicators.rsi(pd.Series(np.arange(21.0, 1.0, -1)), 14).iloc[-1] == 0.0


def test_sma_and_ema_known_values():
    series = pd.Series([1.0, 2.0, 3.0, 4.0])
    assert indicators.sma(series, 3).tolist()[2:] == [2.0, 3.0]
    assert math.isnan(indicators.sma(series, 3).iloc[1])
    # span 3 -> alpha 0.5, seeded with the first value
    assert indicators.ema(series, 3).tolist() == [1.0, 1.5, 2.25, 3.125]


def test_bollinger_of_1_to_20_uses_population_std():
    band = indicators.bollinger(pd.Series(np.arange(1.0, 21.0)), 20, 2.0).iloc[-1]
    std = math.sqrt((20**2 - 1) / 12)
    assert band["middle"] == pytest.approx(10.5)
    assert band["upper"] == pytest.approx(10.5 + 2 * std)
    assert band["lower"] == pytest.approx(10.5 - 2 * std)


def test_macd_of_a_straight_line_converges_to_the_ema_lag_difference():
    # an EMA of x_t = t lags by (span - 1) / 2: MACD -> 12.5 - 5.5 = 7, signal -> 7, histogram -> 0
    lines = indicators.macd(pd.Series(np.arange(600.0))).iloc[-1]
    assert lines["macd"] == pytest.approx(7.0, abs=1e-9)
    assert lines["signal"] == pytest.approx(7.0, abs=1e-9)
    assert lines["histogram"] == pytest.approx(0.0, abs=1e-9)


def test_macd_first_values_follow_the_recursion():
    closes = pd.Series([10.0, 11.0, 12.0])
    lines = indicators.macd(closes, fast=3, slow=5, signal=2)
    fast = [10.0, 10.5, 11.25]                     # alpha 1/2
    slow = [10.0, 10 + 1 / 3, 10 + 1 / 3 + (12 - 10 - 1 / 3) / 3]  # alpha 1/3
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = [line[0], line[0] + (line[1] - line[0]) * 2 / 3]
    signal.append(signal[1] + (line[2] - signal[1]) * 2 / 3)
    assert lines["macd"].tolist() == pytest.approx(line)
    assert lines["signal"].tolist() == pytest.approx(signal)


def test_resample_bars_rolls_one_minute_bars_up_to_five_minutes():
    index = pd.date_range("2026-01-05 10:00", periods=10, freq="1min", tz="UTC")
    bars = pd.DataFrame({"open": np.arange(10.0), "high": np.arange(10.0) + 2, "low": np.arange(10.0) - 1,
                         "close": np.arange(10.0) + 1, "volume": [1.0] * 5 + [2.0] * 5,
                         "trade_count": [3] * 10, "vwap": np.arange(10.0) + 0.5}, index=index)
    out = indicators.resample_bars(bars, "5min")
    assert out.index.tolist() == [index[0], index[5]]
    assert out["open"].tolist() == [0.0, 5.0]
    assert out["high"].tolist() == [6.0, 11.0]
    assert out["low"].tolist() == [-1.0, 4.0]
    assert out["close"].tolist() == [5.0, 10.0]
    assert out["volume"].tolist() == [5.0, 10.0]
    assert out["trade_count"].tolist() == [15, 15]
    assert out["vwap"].tolist() == pytest.approx([2.5, 7.5])


def test_rolling_stats_windows():
    stats = indicators.rolling_stats(pd.Series(np.arange(1.0, 301.0)))
    assert stats["mean_7"].iloc[6] == 4.0
    assert stats["mean_21"].iloc[-1] == pytest.approx(290.0)
    assert stats["mean_255"].iloc[254] == 128.0
    assert stats["std_7"].iloc[-1] == pytest.approx(np.std(np.arange(1.0, 8.0), ddof=1))
    assert stats["mean_255"].iloc[:254].isna().all()


def test_adf_table_rows_and_verdicts():
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2010-01-04", periods=3000)
    walk = pd.Series(100 + np.cumsum(rng.standard_normal(3000)), index=dates)
    table = indicators.adf_table(walk)
    assert table["period"].tolist() == ["full history", "last 10 years", "last 5 years", "last 2 years",
                                        "last 1 year"]
    assert table.loc[0, "p_value"] > 0.05
    assert table.loc[0, "observations"] + table.loc[0, "lags"] + 1 == 3000
    assert (table["critical_1%"] < table["critical_5%"]).all()
    noise = pd.Series(rng.standard_normal(600), index=dates[:600])
    assert indicators.adf_table(noise).loc[0, "p_value"] < 0.01
    short = indicators.adf_table(walk.iloc[:10])
    assert short["note"].str.startswith("too few observations").all()


def test_normalised_joins_on_common_dates_and_rebases_to_100():
    a = pd.Series([10.0, 11.0, 12.0], index=pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]))
    b = pd.Series([50.0, 40.0], index=pd.to_datetime(["2026-01-02", "2026-01-03"]))
    frame = indicators.normalised({"A": a, "B": b})
    assert frame.index.tolist() == list(pd.to_datetime(["2026-01-02", "2026-01-03"]))
    assert frame["A"].tolist() == pytest.approx([100.0, 1200 / 11])
    assert frame["B"].tolist() == [100.0, 80.0]


def test_feed_gaps_finds_silences_and_an_ongoing_one():
    base = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    starts = [base + pd.Timedelta(seconds=5 * i) for i in range(20)]          # 10:00:00 .. 10:01:35
    starts += [base + pd.Timedelta(seconds=300 + 5 * i) for i in range(20)]   # after a silence
    now = starts[-1] + pd.Timedelta(seconds=125)
    gaps, usual = indicators.feed_gaps(pd.Series(starts), now, factor=10.0)
    assert usual == 5.0
    assert len(gaps) == 2
    first = gaps.iloc[0]
    assert first["gap_start"] == base + pd.Timedelta(seconds=100)
    assert first["gap_end"] == base + pd.Timedelta(seconds=300)
    assert first["seconds"] == 200.0 and not first["ongoing"]
    assert gaps.iloc[1]["seconds"] == 120.0 and gaps.iloc[1]["ongoing"]


def test_feed_gaps_needs_three_windows():
    gaps, usual = indicators.feed_gaps(pd.Series([pd.Timestamp("2026-01-05", tz="UTC")]),
                                       pd.Timestamp("2026-01-06", tz="UTC"))
    assert gaps.empty and usual is None
