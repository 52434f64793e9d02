"""The simulator's market: seeded Geometric Brownian Motion trades per symbol, written as Finnhub or
Alpaca JSON, and the malformed frames and trades of fault mode. Pure: no sockets, no clock."""

from __future__ import annotations

import json
import random
import time
import zlib
from dataclasses import dataclass

import numpy as np

BLOCK = 512                 # trades drawn per refill: the stream does not depend on pacing
SIGMA_PER_TRADE = 0.0004
# Finnhub conditions as JSON fragments; "" means the field is absent
CONDITIONS = ('"c":["1","12"],', '"c":["1"],', '"c":null,', "", '"c":["12","37"],')
ALPACA_CONDITIONS = (["@"], ["@", "I"], None, ["T"], ["@", "F"])
FRAME_FAULTS = ("invalid_json", "unknown_type", "missing_data", "wrong_type_data", "not_an_object", "oversized")
TRADE_FAULTS = ("missing_price", "string_price", "nan_price", "negative_price", "negative_volume",
                "infinite_volume", "empty_symbol", "float_timestamp", "bad_conditions")
OVERSIZED_BYTES = 1536 * 1024


def initial_price(symbol: str) -> float:
    base = zlib.crc32(symbol.encode()) % 400 + 20.0
    if "BTC" in symbol:
        return base * 150
    if "ETH" in symbol:
        return base * 8
    if "DOGE" in symbol or "XRP" in symbol:
        return base / 400
    return base


class SymbolPath:
    """One symbol's price path and trade sizes, drawn in blocks from its own seeded generator."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        self.price = initial_price(symbol)
        self.fractional = ":" in symbol      # crypto pairs trade fractional sizes
        self._prices: list[float] = []
        self._volumes: list[float] = []
        self._conditions: list[int] = []
        self._next = BLOCK

    def _refill(self) -> None:
        steps = np.exp(SIGMA_PER_TRADE * self.rng.standard_normal(BLOCK) - SIGMA_PER_TRADE**2 / 2)
        path = self.price * np.cumprod(steps)
        self.price = float(path[-1])
        decimals = 2 if self.price >= 1 else 6
        self._prices = np.maximum(np.round(path, decimals), 10.0**-decimals).tolist()
        if self.fractional:   # multiples of 1/256: exact in binary, so volume sums are exact
            self._volumes = (np.round(self.rng.exponential(0.5, BLOCK) * 256) / 256).tolist()
        else:
            self._volumes = self.rng.integers(1, 500, BLOCK).tolist()
        self._conditions = self.rng.integers(0, len(CONDITIONS), BLOCK).tolist()
        self._next = 0

    def take(self) -> tuple[float, float, int]:
        if self._next >= BLOCK:
            self._refill()
        i = self._next
        self._next += 1
        return self._prices[i], self._volumes[i], self._conditions[i]


@dataclass(slots=True)
class Trade:
    symbol: str
    price: float
    timestamp_ms: int
    volume: float
    condition: int
    trade_id: int


class Market:
    """All symbols' trades on one virtual clock: trade n is stamped start + n/rate seconds, so the
    same seed, rate and start give the same trades."""

    def __init__(self, seed: int, rate: float, start_ms: int | None = None) -> None:
        self.seed, self.rate = seed, rate
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        self._choice = np.random.default_rng([seed, 0])
        self._uniform: list[float] = []
        self._paths: dict[str, SymbolPath] = {}
        self.count = 0

    def next_trades(self, symbols: list[str], count: int) -> list[Trade]:
        if not symbols:
            return []
        trades = []
        paths = [self._paths.get(s) or self._paths.setdefault(s, SymbolPath(s, self.seed)) for s in symbols]
        n_symbols, start_ms, ms_per_trade = len(symbols), self.start_ms, 1000 / self.rate
        uniform, count_before = self._uniform, self.count
        for n in range(count_before, count_before + count):
            if not uniform:
                uniform = self._uniform = self._choice.random(BLOCK).tolist()
            path = paths[int(uniform.pop() * n_symbols)]
            price, volume, condition = path.take()
            trades.append(Trade(path.symbol, price, start_ms + int(n * ms_per_trade), volume, condition, n + 1))
        self.count = count_before + count
        return trades


_SYMBOL_JSON: dict[str, str] = {}


def finnhub_trade(trade: Trade) -> str:
    symbol = _SYMBOL_JSON.get(trade.symbol)
    if symbol is None:
        symbol = _SYMBOL_JSON[trade.symbol] = json.dumps(trade.symbol)
    return (f'{{{CONDITIONS[trade.condition]}"p":{trade.price!r},"s":{symbol},'
            f'"t":{trade.timestamp_ms},"v":{trade.volume!r}}}')


def rfc3339(millis: int, extra_digits: int = 0) -> str:
    """Nanosecond RFC 3339 text, as Alpaca sends; `extra_digits` fills the sub-millisecond part."""
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}{extra_digits % 10**6:06d}Z"


def alpaca_trade(trade: Trade) -> str:
    return json.dumps({"T": "t", "S": trade.symbol, "i": trade.trade_id, "x": "V", "p": trade.price,
                       "s": trade.volume, "c": ALPACA_CONDITIONS[trade.condition],
                       "t": rfc3339(trade.timestamp_ms, trade.trade_id * 7919), "z": "C"},
                      separators=(",", ":"))


def finnhub_frame(parts: list[str]) -> str:
    return '{"type":"trade","data":[' + ",".join(parts) + "]}"


def alpaca_frame(parts: list[str]) -> str:
    return "[" + ",".join(parts) + "]"


def bad_trade(kind: str, trade: Trade, protocol: str) -> str:
    """A trade the collector must refuse (one dead letter), in the protocol's shape."""
    fields: dict[str, object] = {"s": trade.symbol, "p": trade.price, "t": trade.timestamp_ms,
                                 "v": trade.volume, "c": ["1"]}
    if kind == "missing_price":
        del fields["p"]
    elif kind == "string_price":
        fields["p"] = str(trade.price)
    elif kind == "nan_price":
        fields["p"] = float("nan")
    elif kind == "negative_price":
        fields["p"] = -trade.price
    elif kind == "negative_volume":
        fields["v"] = -1 - trade.volume
    elif kind == "infinite_volume":
        fields["v"] = float("inf")
    elif kind == "empty_symbol":
        fields["s"] = ""
    elif kind == "float_timestamp":
        fields["t"] = trade.timestamp_ms + 0.5
    elif kind == "bad_conditions":
        fields["c"] = "1,12"
    if protocol == "alpaca":
        stamp = fields.get("t")
        fields = {"T": "t", "S": fields.get("s"), "p": fields.get("p"), "s": fields.get("v"),
                  "c": fields.get("c"), "i": trade.trade_id,
                  "t": rfc3339(stamp) if type(stamp) is int else "not a time"}
        if kind == "missing_price":
            del fields["p"]
    return json.dumps(fields, separators=(",", ":"))


def malformed_frame(kind: str, protocol: str, rng: random.Random) -> str:
    """A whole frame the collector must refuse (one dead letter)."""
    if kind == "invalid_json":
        text = '{"type":"trade","data":[{"s":"AAPL","p":1' if protocol == "finnhub" else '[{"T":"t","S":'
        return text[: rng.randint(5, len(text))]
    if kind == "oversized":
        body = json.dumps("x" * OVERSIZED_BYTES)
        return (f'{{"type":"trade","data":[],"padding":{body}}}' if protocol == "finnhub"
                else f'[{{"T":"padding","x":{body}}}]')
    if protocol == "alpaca":   # every other fault is a frame that is not a JSON array
        return {"unknown_type": '{"T":"t"}', "missing_data": "null", "wrong_type_data": '"trades"',
                "not_an_object": "42"}[kind]
    return {"unknown_type": '{"type":"news","data":[]}', "missing_data": '{"type":"trade"}',
            "wrong_type_data": '{"type":"trade","data":"AAPL"}', "not_an_object": '["trade"]'}[kind]
