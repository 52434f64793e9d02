"""The aggregates recomputed from stored rows: 5 s windows from the stored trades and 1 minute bars
rolled up from 5 s windows equal the pandas recomputation from the raw trades (OHLC by time, then
numeric producer sequence; count, volume, VWAP, also with zero-volume windows), and only the
minutes a batch touched are rolled up."""

from __future__ import annotations

import math
import random
from datetime import date

import pandas as pd
import pytest

from stream_processor.rollup import (
    bar_from_windows,
    roll_up,
    touched_minutes,
    utc_day,
    window_from_totals,
    window_from_trades,
)
from tests.helpers_stream import recompute_windows

T0 = 1_700_000_040_000  # a whole minute


def windows_of(trades: pd.DataFrame) -> list[dict]:
    five = recompute_windows(trades, 5_000)
    return [{"symbol": w.symbol, "trade_date": date(2023, 11, 14), "window_start_ms": int(w.window_ms),
             "trade_count": int(w.trade_count), "volume": w.volume, "vwap": w.vwap, "open": w.open,
             "high": w.high, "low": w.low, "close": w.close} for w in five.itertuples()]


def random_trades(seed: int, count: int, zero_volume: bool = False) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = [{"symbol": rng.choice(["AAPL", "MSFT"]), "trade_id": f"p1-{i // 3}-{i % 3}",
             "price": round(rng.uniform(90, 110), 2), "volume": 0.0 if zero_volume else round(rng.uniform(0, 5), 4),
             "t_ms": T0 + rng.randint(0, 179_999)} for i in range(count)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("zero_volume", [False, True])
def test_bars_rolled_up_from_5s_windows_equal_bars_from_the_trades(zero_volume):
    trades = random_trades(3, 2_000, zero_volume)
    windows = windows_of(trades)
    stored = {}
    for w in windows:
        stored.setdefault((w["symbol"], w["window_start_ms"] // 60_000 * 60_000), []).append(w)
    bars = roll_up(windows, lambda symbol, day, start: stored.get((symbol, start), []))
    expected = recompute_windows(trades, 60_000)
    assert [(b["symbol"], b["bar_start"]) for b in bars] == \
        [(e.symbol, int(e.window_ms)) for e in expected.itertuples()]
    for bar, e in zip(bars, expected.itertuples(), strict=True):
        assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["trade_count"]) == \
            (e.open, e.high, e.low, e.close, e.trade_count)
        assert math.isclose(bar["volume"], e.volume, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(bar["vwap"], e.vwap, rel_tol=1e-12)


@pytest.mark.parametrize("zero_volume", [False, True])
def test_windows_from_the_stored_trades_equal_the_recomputation_from_the_raw_trades(zero_volume):
    trades = random_trades(5, 3_000, zero_volume)
    # many trades share a millisecond: the order must be numeric (p1-9-2 before p1-10-0)
    trades["t_ms"] = T0 + trades["t_ms"].sub(T0) // 40 * 40
    stored: dict[tuple[str, int], list[dict]] = {}
    for row in trades.sample(frac=1.0, random_state=1).to_dict("records"):   # as Cassandra returns them
        stored.setdefault((row["symbol"], row["t_ms"] // 5_000 * 5_000), []).append(row)
    windows = {(w["symbol"], w["window_start_ms"]): w for (symbol, start), rows in stored.items()
               if (w := window_from_trades(symbol, start, rows)) is not None}
    expected = recompute_windows(trades, 5_000)
    assert sorted(windows) == sorted((e.symbol, int(e.window_ms)) for e in expected.itertuples())
    for e in expected.itertuples():
        w = windows[(e.symbol, int(e.window_ms))]
        assert (w["open"], w["high"], w["low"], w["close"], w["trade_count"]) == \
            (e.open, e.high, e.low, e.close, e.trade_count)
        assert math.isclose(w["volume"], e.volume, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(w["vwap"], e.vwap, rel_tol=1e-12)
        assert (w["window_end_ms"], w["trade_date"]) == (int(e.window_ms) + 5_000, date(2023, 11, 14))


def test_same_millisecond_trades_order_by_numeric_sequence_then_index():
    rows = [{"trade_id": trade_id, "t_ms": T0 + 100, "price": price, "volume": 1.0}
            for trade_id, price in (("p1-10-0", 10.0), ("p1-9-2", 9.2), ("p1-9-10", 9.10), ("p1-9-0", 9.0))]
    window = window_from_trades("AAPL", T0, rows)
    assert (window["open"], window["close"], window["last_trade_ms"]) == (9.0, 10.0, T0 + 100)
    # a producer id with dashes, and an id of another shape, still sort (by time first)
    other = window_from_trades("AAPL", T0, [{"trade_id": "my-host-7-1", "t_ms": T0 + 2, "price": 2.0, "volume": 1.0},
                                            {"trade_id": "odd", "t_ms": T0 + 1, "price": 1.0, "volume": 1.0}])
    assert (other["open"], other["close"]) == (1.0, 2.0)
    assert window_from_trades("AAPL", T0, []) is None


@pytest.mark.parametrize("zero_volume", [False, True])
def test_a_window_from_cassandras_totals_and_its_edge_trades_equals_the_one_from_all_its_trades(zero_volume):
    trades = random_trades(5, 2_000, zero_volume)
    trades["t_ms"] = T0 + trades["t_ms"].sub(T0) // 40 * 40      # ties at the first and last millisecond
    for (symbol, start), group in trades.groupby([trades["symbol"], trades["t_ms"] // 5_000 * 5_000]):
        rows = group.sample(frac=1.0, random_state=2).to_dict("records")
        prices, volumes = group["price"].tolist(), group["volume"].tolist()
        totals = {"trade_count": len(rows), "volume": sum(volumes), "price_sum": sum(prices),   # summed in order,
                  "notional": sum(p * v for p, v in zip(prices, volumes, strict=True)),        # as Cassandra does
                  "high": max(prices), "low": min(prices)}
        first, last = group["t_ms"].min(), group["t_ms"].max()
        edges = [row for row in rows if row["t_ms"] in (first, last)]
        window = window_from_totals(symbol, int(start), totals, edges)
        expected = window_from_trades(symbol, int(start), rows)
        assert {k: window[k] for k in ("open", "high", "low", "close", "trade_count", "last_trade_ms",
                                       "window_end_ms", "trade_date")} == \
            {k: expected[k] for k in ("open", "high", "low", "close", "trade_count", "last_trade_ms",
                                      "window_end_ms", "trade_date")}
        assert math.isclose(window["volume"], expected["volume"], rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(window["vwap"], expected["vwap"], rel_tol=1e-12)
    assert window_from_totals("AAPL", T0, {"trade_count": 0}, []) is None


def test_utc_day_of_epoch_milliseconds():
    assert utc_day(0) == date(1970, 1, 1)
    assert utc_day(T0) == date(2023, 11, 14)
    assert utc_day(86_400_000 - 1) == date(1970, 1, 1)


def test_only_the_minutes_of_updated_windows_are_rolled_up():
    updated = [{"symbol": "AAPL", "trade_date": date(2023, 11, 14), "window_start_ms": T0 + 55_000},
               {"symbol": "AAPL", "trade_date": date(2023, 11, 14), "window_start_ms": T0 + 60_000},
               {"symbol": "AAPL", "trade_date": date(2023, 11, 14), "window_start_ms": T0 + 5_000}]
    assert touched_minutes(updated) == [("AAPL", date(2023, 11, 14), T0), ("AAPL", date(2023, 11, 14), T0 + 60_000)]


def test_a_minute_without_trades_gives_no_bar():
    assert bar_from_windows("AAPL", date(2023, 11, 14), T0, []) is None


def test_observed_metrics_give_up_after_the_timeout_and_return_what_arrived():
    import threading

    from stream_processor.batches import observed_metrics

    def observed(arrives: threading.Event):
        def fetch() -> str:
            arrives.wait()
            return '{"valid_rows": 3}'
        return fetch

    arrived = threading.Event()
    arrived.set()
    assert observed_metrics(observed(arrived), 5.0) == '{"valid_rows": 3}'
    never = threading.Event()
    assert observed_metrics(observed(never), 0.2) is None
    never.set()  # let the waiting thread end


def test_a_small_batch_runs_in_one_task_a_large_one_in_one_per_partition_at_most():
    from core.checkpoints import OffsetEntry
    from stream_processor.batches import batch_records, batch_tasks

    def entry(batch_id: int, *ends: int) -> OffsetEntry:
        return OffsetEntry(batch_id, 0, 0, {"market": dict(enumerate(ends))})

    def tasks(current: OffsetEntry, previous: OffsetEntry | None, **kwargs) -> int | None:
        return batch_tasks(batch_records(current, previous), current, **kwargs)

    previous = entry(4, 100, 200, 300)
    assert batch_records(entry(5, 110, 200, 305), previous) == 15
    assert tasks(entry(5, 110, 200, 305), previous) == 1                      # 15 records
    assert tasks(entry(5, 100, 200, 300), previous) == 1                      # an empty batch
    assert tasks(entry(5, 30_100, 200, 300), previous, trades_per_task=20_000) == 2
    assert tasks(entry(5, 60_100, 200, 300), previous, trades_per_task=20_000) is None  # 3 = all
    # merged records of a fast feed hold hundreds of trades: counted in trades, not records
    assert tasks(entry(5, 200, 200, 300), previous, trades_per_record=150.0, trades_per_task=20_000) == 1
    assert tasks(entry(5, 300, 200, 300), previous, trades_per_record=150.0, trades_per_task=20_000) == 2
    assert tasks(entry(5, 500, 200, 300), previous, trades_per_record=150.0, trades_per_task=20_000) is None
    assert batch_records(entry(0, 10, 10, 10), None) is None                   # the first batch
    assert tasks(entry(0, 10, 10, 10), None) is None
    assert batch_records(entry(5, 110, 200, 305, 7), previous) is None         # a new partition
    assert tasks(entry(5, 110, 200, 305, 7), previous) is None


def test_a_collected_batch_is_summarised_as_the_observed_summary_would():
    from stream_processor.rollup import batch_summary, nearest_rank

    def row(symbol, t_ms, trade_id, price=1.0, reason=None, late=False, received=None):
        return {"symbol": symbol, "t_ms": t_ms, "trade_id": trade_id, "price": price, "volume": 2.0,
                "reason": reason, "late": late, "received_ms": received}

    rows = [row("AAPL", 10_000, "p-9-0", 100.0, received=10_050),
            row("AAPL", 10_000, "p-10-0", 101.0, received=10_060),     # same ms, later frame (10 > 9)
            row("AAPL", 4_999, "p-1-0", 99.0, late=True, received=10_070),
            row("BINANCE:BTCUSDT", 12_345, "p-11-2", 95_000.5),
            row("AAPL", 99_999, "p-12-0", reason="empty symbol", late=True)]
    times, newest = batch_summary(rows)
    assert (times["valid_rows"], times["refused_rows"], times["late_rows"]) == (4, 1, 1)
    assert times["event_ms"] == [4_999, 10_000] and times["received_ms"] == [10_050, 10_060]
    assert times["windows"] == [{"symbol": "AAPL", "start": 0}, {"symbol": "AAPL", "start": 10_000},
                                {"symbol": "BINANCE:BTCUSDT", "start": 10_000}]
    assert sorted(newest, key=lambda n: n["symbol"]) == [
        {"symbol": "AAPL", "price": 101.0, "volume": 2.0, "t_ms": 10_000},
        {"symbol": "BINANCE:BTCUSDT", "price": 95_000.5, "volume": 2.0, "t_ms": 12_345}]
    assert batch_summary([]) == ({"valid_rows": 0, "refused_rows": 0, "late_rows": 0, "event_ms": None,
                                  "received_ms": None, "windows": []}, [])
    # percentile_approx's rank: the smallest value with at least the fraction at or below it
    assert [nearest_rank(list(range(1, 101)), f) for f in (0.01, 0.5, 0.99, 1.0)] == [1, 50, 99, 100]
    assert [nearest_rank([7, 8, 9], f) for f in (0.01, 0.5)] == [7, 8]
