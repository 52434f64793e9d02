"""1 minute bars rolled up from the exact 5 s windows of the same minute (pure Python): one
streaming query keeps the 5 s state, and each bar a batch touched is recomputed from the stored
windows of its minute. A bar counts exactly the trades its 5 s windows count (late ones neither)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

MINUTE_MS = 60_000

# (symbol, trade_date, minute start in epoch ms) -> that minute's stored 5 s windows
WindowReader = Callable[[str, Any, int], Iterable[Mapping[str, Any]]]


def bar_from_windows(symbol: str, trade_date: Any, bar_start_ms: int,
                     windows: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One `bars_1m` row from the 5 s windows of its minute: open of the first window, close of the
    last, extremes, sums; VWAP = total notional / total volume, or the mean price when the minute
    traded no volume (each window's VWAP is then its mean price). None when no window has trades."""
    ordered = sorted((w for w in windows if w["trade_count"]), key=lambda w: w["window_start_ms"])
    if not ordered:
        return None
    count = sum(w["trade_count"] for w in ordered)
    volume = sum(w["volume"] for w in ordered)
    if volume > 0:
        vwap = sum(w["vwap"] * w["volume"] for w in ordered) / volume
    else:
        vwap = sum(w["vwap"] * w["trade_count"] for w in ordered) / count
    return {"symbol": symbol, "trade_date": trade_date, "bar_start": bar_start_ms,
            "open": ordered[0]["open"], "high": max(w["high"] for w in ordered),
            "low": min(w["low"] for w in ordered), "close": ordered[-1]["close"],
            "volume": volume, "trade_count": count, "vwap": vwap}


def touched_minutes(windows: Iterable[Mapping[str, Any]]) -> list[tuple[str, Any, int]]:
    """(symbol, trade_date, minute start ms) of every window a batch updated, in order."""
    return sorted({(w["symbol"], w["trade_date"], w["window_start_ms"] // MINUTE_MS * MINUTE_MS)
                   for w in windows}, key=lambda m: (m[0], m[2]))


def roll_up(windows: Iterable[Mapping[str, Any]], read: WindowReader) -> list[dict[str, Any]]:
    """The bars of every minute the updated `windows` fall in, each from all stored windows of it."""
    bars = []
    for symbol, trade_date, start in touched_minutes(windows):
        bar = bar_from_windows(symbol, trade_date, start, read(symbol, trade_date, start))
        if bar is not None:
            bars.append(bar)
    return bars
