"""The aggregate tables recomputed from what is stored (pure Python): a 5 s window from the stored
trades of its five seconds, a 1 min bar from the stored 5 s windows of its minute. The `trades`
table is an idempotent store keyed by trade id, so a window recomputed from it after every batch
that touched it is exact by construction: a duplicate cannot count twice, and a late trade
recomputes its window instead of being dropped."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any

WINDOW_MS = 5_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000
_EPOCH_DAY = date(1970, 1, 1)

# (symbol, trade_date, minute start in epoch ms) -> that minute's stored 5 s windows
WindowReader = Callable[[str, Any, int], Iterable[Mapping[str, Any]]]


def utc_day(ms: int) -> date:
    """The UTC calendar day of epoch milliseconds (the tables' `trade_date`)."""
    return _EPOCH_DAY + timedelta(days=ms // DAY_MS)


def trade_order(trade: Mapping[str, Any]) -> tuple[Any, ...]:
    """The order of trades in a window: time, then producer, frame sequence and index as numbers,
    parsed from the right of the trade id (`producer-seq-index`; "p-9-0" before "p-10-0"). An id of
    another shape sorts by its text after the time."""
    parts = trade["trade_id"].rsplit("-", 2)
    try:
        return (trade["t_ms"], parts[0], int(parts[1]), int(parts[2]))
    except (IndexError, ValueError):
        return (trade["t_ms"], trade["trade_id"], -1, -1)


def nearest_rank(ordered: list[Any], fraction: float) -> Any:
    """The smallest of the sorted `ordered` with at least `fraction` of them at or below it: what
    Spark's percentile_approx returns when it holds every value."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def quantiles(values: Iterable[Any]) -> list[Any] | None:
    """[p01, p50] of `values` by `nearest_rank` (the pair the latency figures are built from), or None."""
    ordered = sorted(values)
    return [nearest_rank(ordered, 0.01), nearest_rank(ordered, 0.5)] if ordered else None


def batch_summary(rows: Iterable[Mapping[str, Any]],
                  window_ms: int = WINDOW_MS) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the observed summary gives for a micro-batch, from its rows collected to the driver
    (`reason`, `symbol`, `t_ms`, `trade_id`, `price`, `volume`, `received_ms`, `late`): the time
    summary (valid, refused and late rows; p01/p50 of the valid trades' event and receive times),
    the windows its valid trades touched, and the newest valid trade of each symbol by `trade_order`."""
    rows = list(rows)
    valid = [row for row in rows if row["reason"] is None]
    newest: dict[str, Mapping[str, Any]] = {}
    for row in valid:
        best = newest.get(row["symbol"])
        if best is None or trade_order(row) > trade_order(best):
            newest[row["symbol"]] = row
    times = {"valid_rows": len(valid), "refused_rows": len(rows) - len(valid),
             "late_rows": sum(1 for row in valid if row["late"]),
             "event_ms": quantiles(row["t_ms"] for row in valid),
             "received_ms": quantiles(row["received_ms"] for row in valid if row["received_ms"] is not None),
             "windows": [{"symbol": symbol, "start": start} for symbol, start in
                         sorted({(row["symbol"], row["t_ms"] // window_ms * window_ms) for row in valid})]}
    return times, [{"symbol": row["symbol"], "price": row["price"], "volume": row["volume"], "t_ms": row["t_ms"]}
                   for row in newest.values()]


def window_from_trades(symbol: str, window_start_ms: int, trades: Iterable[Mapping[str, Any]],
                       window_ms: int = WINDOW_MS) -> dict[str, Any] | None:
    """One `trades_5s` row from the stored trades (t_ms, trade_id, price, volume) of its window:
    open/close of the first/last trade by `trade_order`, extremes, count, volume; VWAP = notional /
    volume, or the mean price when the window traded no volume. None when it holds no trade.
    `last_trade_ms` (the newest trade's time) is for latency bookkeeping."""
    trades = trades if isinstance(trades, list) else list(trades)
    if not trades:
        return None
    prices = [t["price"] for t in trades]
    volumes = [t["volume"] for t in trades]
    totals = {"trade_count": len(trades), "volume": math.fsum(volumes),
              "notional": math.fsum(map(operator.mul, prices, volumes)), "price_sum": math.fsum(prices),
              "high": max(prices), "low": min(prices)}
    return window_from_totals(symbol, window_start_ms, totals, trades, window_ms)


def window_from_totals(symbol: str, window_start_ms: int, totals: Mapping[str, Any],
                       edges: Iterable[Mapping[str, Any]], window_ms: int = WINDOW_MS) -> dict[str, Any] | None:
    """One `trades_5s` row from its window's totals (trade_count, volume, notional = sum of price x
    volume, price_sum, high, low: what Cassandra aggregates in the trades' partition) and the trades
    at its first and last millisecond (`edges`, t_ms, trade_id, price; more may be given), whose
    first and last by `trade_order` are open and close. None when the window holds no trade."""
    edges = edges if isinstance(edges, list) else list(edges)
    if not totals["trade_count"] or not edges:
        return None
    first_ms = min(t["t_ms"] for t in edges)
    last_ms = max(t["t_ms"] for t in edges)
    first = min((t for t in edges if t["t_ms"] == first_ms), key=trade_order)
    last = max((t for t in edges if t["t_ms"] == last_ms), key=trade_order)
    volume = totals["volume"]
    vwap = totals["notional"] / volume if volume > 0 else totals["price_sum"] / totals["trade_count"]
    return {"symbol": symbol, "trade_date": utc_day(window_start_ms), "window_start_ms": window_start_ms,
            "window_end_ms": window_start_ms + window_ms, "trade_count": totals["trade_count"], "volume": volume,
            "vwap": vwap, "open": first["price"], "high": totals["high"], "low": totals["low"],
            "close": last["price"], "last_trade_ms": last_ms}


def bar_from_windows(symbol: str, trade_date: Any, bar_start_ms: int,
                     windows: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One `bars_1m` row from the 5 s windows of its minute: open of the first window, close of the
    last, extremes, sums; VWAP = total notional / total volume, or the mean price when the minute
    traded no volume (each window's VWAP is then its mean price). None when no window has trades."""
    ordered = sorted((w for w in windows if w["trade_count"]), key=lambda w: w["window_start_ms"])
    if not ordered:
        return None
    count = sum(w["trade_count"] for w in ordered)
    volume = math.fsum(w["volume"] for w in ordered)
    if volume > 0:
        vwap = math.fsum(w["vwap"] * w["volume"] for w in ordered) / volume
    else:
        vwap = math.fsum(w["vwap"] * w["trade_count"] for w in ordered) / count
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
