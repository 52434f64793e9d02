"""1 minute bars rolled up from 5 s windows equal bars aggregated from the raw trades: OHLC,
count, volume, VWAP (also with zero-volume windows), and only the minutes a batch touched."""

from __future__ import annotations

import math
import random
from datetime import date

import pandas as pd
import pytest

from stream_processor.rollup import bar_from_windows, roll_up, touched_minutes
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
