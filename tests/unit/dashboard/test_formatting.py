"""The dashboard's number and table formatting: prices whole on a tile, no `None` cells, annual rates
without e-notation, the drift in words, the fan chart's origin label and the data's age."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard import formatting
from dashboard.indicators import finished_bars


@pytest.mark.parametrize(("value", "text"), [
    (95_012.34, "95,012"), (103_456.7, "103,457"), (3_299.52, "3,299.5"), (187.3245, "187.32"),
    (12.345678, "12.3457"), (1.0, "1.0000"), (0.349123, "0.34912"), (0.0012345678, "0.0012346"),
    (0.00001234, "0.000012340"), (0.0, "0.0000"), (None, ""), (float("nan"), ""),
])
def test_prices_are_written_by_magnitude_in_at_most_eight_digits_without_e_notation(value, text):
    assert formatting.price(value) == text
    assert "e" not in formatting.price(value)


def test_a_tile_delta_has_its_price_decimals_and_is_none_until_the_change_is_known():
    assert formatting.change(12.3, 0.013, 95_012.0) == "+12 (+0.01 %)"
    assert formatting.change(-0.00123, -0.35, 0.349) == "-0.00123 (-0.35 %)"
    assert formatting.change(None, None, 187.0) is None
    assert formatting.change(float("nan"), float("nan"), 187.0) is None


def test_tile_labels_drop_the_venue_prefix():
    assert formatting.tile_label("BINANCE:BTCUSDT") == "BTCUSDT"
    assert formatting.tile_label("AAPL") == "AAPL"
    assert formatting.tile_label("IC MARKETS:1") == "1"


def test_the_prices_table_has_empty_change_cells_before_five_minutes_of_history():
    prices = pd.DataFrame({
        "symbol": ["AAPL", "BINANCE:BTCUSDT"], "price": [187.3245, 95_012.34],
        "trade_timestamp": [pd.Timestamp("2026-12-02 04:51:07.123", tz="UTC")] * 2,
        "change": [0.5, None], "change_pct": [0.267, None]})
    table = formatting.prices_table(prices, 5)
    assert table.columns.tolist() == ["symbol", "price", "last trade (UTC)", "change 5 min", "change 5 min %"]
    assert table.to_dict("records") == [
        {"symbol": "AAPL", "price": "187.32", "last trade (UTC)": "2026-12-02 04:51:07", "change 5 min": "+0.50",
         "change 5 min %": "+0.27 %"},
        {"symbol": "BINANCE:BTCUSDT", "price": "95,012", "last trade (UTC)": "2026-12-02 04:51:07",
         "change 5 min": "", "change 5 min %": ""}]


def test_the_kafka_lag_table_has_empty_cells_for_a_query_without_a_batch_or_an_error():
    queries = [
        {"query": "trades", "committed_batch": 41, "end_offsets": {0: 1200, 1: 800},
         "committed_offsets": {0: 1190, 1: 800}, "lag": 10, "last_batch_time": "2026-12-02T04:51:07Z", "error": None},
        {"query": "bars_1m", "committed_batch": None, "end_offsets": {0: 1200}, "committed_offsets": {},
         "lag": None, "last_batch_time": None, "error": None},
    ]
    table = formatting.lag_table(queries)
    assert table.to_dict("records") == [
        {"query": "trades", "committed batch": "41", "end offsets": "2,000", "committed offsets": "1,990",
         "lag (records)": "10", "last batch": "2026-12-02T04:51:07Z", "error": ""},
        {"query": "bars_1m", "committed batch": "", "end offsets": "1,200", "committed offsets": "0",
         "lag (records)": "", "last batch": "", "error": ""}]
    assert "None" not in table.to_string()


@pytest.mark.parametrize(("value", "text"), [
    (0.2812, "28.1 %"), (12.5, "1,250 %"), (12.5e3, "1,250,000 %"), (0.000123, "0.0123 %"),
    (-0.004567, "-0.457 %"), (0.0, "0 %"), (None, "n/a"),
])
def test_annual_rates_read_as_fixed_notation_percentages(value, text):
    assert formatting.percent(value) == text


def test_the_drift_of_minutes_of_data_is_said_not_distinguishable_from_zero_with_its_horizon_change():
    # what issue 22 saw: mu 12.5 (1,250 %) with SE 42 from 22 one-minute bars, a 1 h horizon
    line = formatting.drift_line(12.5, 42.0, 3600)
    years = 3600 / formatting.YEAR_S
    expected = formatting.percent(math.expm1(12.5 * years), 2, sign=True)
    assert expected == "+0.14 %"
    assert line == (f"expected change over the 60 min horizon {expected} (± 0.48 % for 1 SE of μ) · "
                    "μ is not distinguishable from zero (|μ| < 2 SE = 8,400 %)")
    assert formatting.drift_is_distinguishable(0.3, 0.1) is True
    assert formatting.drift_line(0.3, 0.1, 30 * 86400).endswith("μ differs from zero by more than 2 SE")
    assert formatting.drift_is_distinguishable(0.3, None) is None


def test_the_fan_line_is_the_run_only_when_the_newest_close_is_the_runs_moment():
    run = pd.Timestamp("2026-12-02 05:00:00", tz="UTC")
    assert formatting.origin_label(run, run - pd.Timedelta(seconds=60), 60) == "run (now)"
    assert formatting.origin_label(run, run - pd.Timedelta(minutes=40), 60) == "last close used"
    assert formatting.origin_label(run, None, 60) == "run (now)"


def test_the_data_age_and_the_next_run_are_said_in_words():
    run = pd.Timestamp("2026-12-02 05:00:00", tz="UTC")
    now = run + pd.Timedelta(minutes=3)
    assert formatting.data_age_line(run, run - pd.Timedelta(minutes=40), now) == (
        "newest close used 2026-12-02 04:20:00 UTC, 40 min before the run · run 3 min ago")
    assert formatting.next_run_line(run + pd.Timedelta(minutes=10), now) == "next run due 05:10:00 UTC, in 7 min"
    assert formatting.next_run_line(run + pd.Timedelta(minutes=1), now) == "next run due 05:01:00 UTC, 2 min overdue"
    assert formatting.next_run_line(None, now) is None


def test_the_running_bar_is_left_out_of_the_finished_bars():
    index = pd.date_range("2026-12-02 05:00", periods=3, freq="60s", tz="UTC")
    bars = pd.DataFrame({"trade_count": [120, 118, 7]}, index=index)
    now = pd.Timestamp("2026-12-02 05:02:05", tz="UTC")
    assert finished_bars(bars, 60, now)["trade_count"].tolist() == [120, 118]
    assert finished_bars(bars, 60, None)["trade_count"].tolist() == [120, 118, 7]


def test_the_history_page_says_where_its_data_came_from():
    imported = pd.Timestamp("2026-12-02 04:58:31", tz="UTC")
    assert formatting.history_source({"source": "file /data/aapl.csv", "imported_at": imported, "rows": 300}) == (
        "source: file /data/aapl.csv · imported 2026-12-02 04:58 UTC")
    assert formatting.history_source(None) == "source: not recorded (imported before tickplant kept sources)"


def test_counts_are_short_enough_for_a_tile():
    assert [formatting.count(n) for n in (180, 2_500, 10_000, 250_000, 1_234_567, None)] == [
        "180", "2,500", "10k", "250k", "1.23M", ""]


def test_a_chart_of_few_bars_spans_ten_bars_instead_of_a_millisecond():
    from dashboard.charts import few_bars_range

    one = pd.DatetimeIndex([pd.Timestamp("2026-12-02 05:07", tz="UTC")])
    assert few_bars_range(one, 60) == {"range": [pd.Timestamp("2026-12-02 04:59", tz="UTC").to_pydatetime(),
                                                 pd.Timestamp("2026-12-02 05:09", tz="UTC").to_pydatetime()]}
    assert few_bars_range(pd.date_range("2026-12-02", periods=10, freq="60s", tz="UTC"), 60) == {}
    assert few_bars_range(pd.DatetimeIndex([]), 60) == {}
