"""The simulator's market: per symbol a seeded Geometric Brownian Motion in calendar time (annual mu,
sigma, start price: `SymbolModel`), sampled at each trade's own timestamp into `Trade`s that a feed
(collector.feeds) writes as its frames. Pure: no sockets, no clock."""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from collector.feeds.base import CONDITION_KINDS, Trade

BLOCK = 512                 # random draws per refill: the stream does not depend on pacing
MS_PER_YEAR = 365.25 * 86_400_000


@dataclass(frozen=True, slots=True)
class SymbolModel:
    """dS = mu S dt + sigma S dW with t in years of 365.25 days; S(start of the virtual clock) = start_price."""

    mu: float
    sigma: float
    start_price: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mu) and abs(self.mu) <= 10):
            raise ValueError(f"mu {self.mu!r}: expected a finite annual drift within [-10, 10]")
        if not (math.isfinite(self.sigma) and 0 <= self.sigma <= 10):
            raise ValueError(f"sigma {self.sigma!r}: expected a finite annual volatility within [0, 10]")
        if not (math.isfinite(self.start_price) and self.start_price > 0):
            raise ValueError(f"start price {self.start_price!r}: expected a finite positive price")


# Orders of magnitude of late 2024: large-cap stocks sigma 25-35 %, crypto 60-80 % a year.
DEFAULT_MODELS: dict[str, SymbolModel] = {
    "AAPL": SymbolModel(0.10, 0.28, 230.0),
    "AMZN": SymbolModel(0.12, 0.32, 220.0),
    "MSFT": SymbolModel(0.10, 0.25, 420.0),
    "GOOGL": SymbolModel(0.10, 0.30, 175.0),
    "META": SymbolModel(0.12, 0.35, 580.0),
    "NVDA": SymbolModel(0.15, 0.50, 140.0),
    "TSLA": SymbolModel(0.10, 0.60, 340.0),
    "SPY": SymbolModel(0.07, 0.16, 600.0),
    "BTC": SymbolModel(0.20, 0.60, 95_000.0),
    "ETH": SymbolModel(0.15, 0.70, 3_300.0),
    "SOL": SymbolModel(0.15, 0.80, 240.0),
    "XRP": SymbolModel(0.10, 0.80, 2.0),
    "DOGE": SymbolModel(0.10, 0.80, 0.35),
}
DEFAULT_STOCK = (0.08, 0.30)        # mu, sigma of a symbol not in the table
DEFAULT_CRYPTO = (0.10, 0.75)
_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "BTC")


def _table_key(symbol: str) -> str:
    """The table key of a symbol: `AAPL` as is; a crypto pair (`BINANCE:BTCUSDT`, `BTC/USD`) by its base."""
    name = symbol.rpartition(":")[2].upper()
    if "/" in name:
        return name.partition("/")[0]
    if ":" in symbol:
        for quote in _QUOTES:
            if name.endswith(quote) and len(name) > len(quote):
                return name[: -len(quote)]
    return name


def symbol_model(symbol: str, overrides: Mapping[str, SymbolModel] | None = None) -> SymbolModel:
    """The model the simulator uses for `symbol`: an override, else the defaults table (crypto pairs
    by their base asset), else a deterministic plausible default derived from the name."""
    if overrides and symbol in overrides:
        return overrides[symbol]
    known = DEFAULT_MODELS.get(symbol) or DEFAULT_MODELS.get(_table_key(symbol))
    if known is not None:
        return known
    spread = zlib.crc32(symbol.encode()) % 400
    if ":" in symbol or "/" in symbol:
        return SymbolModel(*DEFAULT_CRYPTO, round(10 ** (spread / 100 - 1), 4))     # 0.1 to ~1000
    return SymbolModel(*DEFAULT_STOCK, 20.0 + spread)


def models_from_mapping(market: object) -> dict[str, SymbolModel]:
    """`{SYMBOL: {mu: .., sigma: .., start_price: ..}}` (a `--market` YAML file; any key may be left out,
    its default is kept) as models; ValueError naming the symbol when malformed."""
    if not isinstance(market, dict):
        raise ValueError("expected a mapping SYMBOL: {mu: .., sigma: .., start_price: ..}")
    models = {}
    for symbol, parameters in market.items():
        if not isinstance(parameters, dict) or not set(parameters) <= {"mu", "sigma", "start_price"}:
            raise ValueError(f"{symbol}: expected a mapping with mu, sigma and/or start_price")
        if not all(type(v) in (int, float) for v in parameters.values()):
            raise ValueError(f"{symbol}: mu, sigma and start_price must be numbers")
        base = symbol_model(str(symbol))
        try:
            models[str(symbol)] = SymbolModel(float(parameters.get("mu", base.mu)),
                                              float(parameters.get("sigma", base.sigma)),
                                              float(parameters.get("start_price", base.start_price)))
        except ValueError as exc:
            raise ValueError(f"{symbol}: {exc}") from None
    return models


def override_models(mu: Mapping[str, float], sigma: Mapping[str, float], start_price: Mapping[str, float],
                    base_models: Mapping[str, SymbolModel] | None = None) -> dict[str, SymbolModel]:
    """Per-symbol models with some parameters replaced (the rest from `base_models`, else `symbol_model`);
    ValueError if invalid."""
    models = dict(base_models or {})
    for symbol in {*mu, *sigma, *start_price}:
        base = symbol_model(symbol, base_models)
        models[symbol] = SymbolModel(mu.get(symbol, base.mu), sigma.get(symbol, base.sigma),
                                     start_price.get(symbol, base.start_price))
    return models


def price_decimals(start_price: float) -> int:
    """Decimals kept in trade prices: about 9 significant digits, so rounding adds no visible
    variance to returns even between trades a millisecond apart."""
    return min(12, max(2, 8 - math.floor(math.log10(start_price))))


def catch_up_start_ms(now_ms: int, rate: float, time_scale: float, max_trades: int) -> int:
    """A virtual clock start for `time_scale` > 1: trade n is stamped start + n * time_scale / rate s
    while it is sent at about now + n / rate s, so starting (time_scale - 1) * max_trades / rate s in
    the past makes the clock catch up with the wall clock at the last trade, never run ahead."""
    return now_ms - math.ceil(max_trades * (time_scale - 1) * 1000 / rate)


class SymbolPath:
    """One symbol's price path and trade sizes, drawn in blocks from its own seeded generator. The
    log price moves by (mu - sigma^2/2) dt + sigma sqrt(dt) Z between consecutive trade stamps."""

    def __init__(self, symbol: str, seed: int, model: SymbolModel | None = None, start_ms: int = 0) -> None:
        self.symbol = symbol
        self.model = model = model or symbol_model(symbol)
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        self.decimals = price_decimals(model.start_price)
        self.fractional = ":" in symbol      # crypto pairs trade fractional sizes
        self._log_price = math.log(model.start_price)
        self._last_ms = start_ms
        self._drift_per_ms = (model.mu - model.sigma**2 / 2) / MS_PER_YEAR
        self._sigma_per_sqrt_ms = model.sigma / math.sqrt(MS_PER_YEAR)
        self._shocks: list[float] = []
        self._volumes: list[float] = []
        self._conditions: list[int] = []
        self._next = BLOCK

    def _refill(self) -> None:
        self._shocks = self.rng.standard_normal(BLOCK)
        if self.fractional:   # multiples of 1/256: exact in binary, so volume sums are exact
            self._volumes = np.round(self.rng.exponential(0.5, BLOCK) * 256) / 256
        else:
            self._volumes = self.rng.integers(1, 500, BLOCK)
        self._conditions = self.rng.integers(0, CONDITION_KINDS, BLOCK)
        self._next = 0

    def _draws(self, count: int) -> tuple[np.ndarray, list[float], list[int]]:
        """The next `count` shocks, sizes and conditions; blocks are drawn whole, so the stream of
        draws does not depend on how trades are grouped into calls."""
        shocks, volumes, conditions = [], [], []
        while count:
            if self._next >= BLOCK:
                self._refill()
            i, j = self._next, min(BLOCK, self._next + count)
            shocks.append(self._shocks[i:j])
            volumes.append(self._volumes[i:j])
            conditions.append(self._conditions[i:j])
            count -= j - i
            self._next = j
        return (np.concatenate(shocks), np.concatenate(volumes).tolist(), np.concatenate(conditions).tolist())

    def take(self, timestamp_ms: int) -> tuple[float, float, int]:
        """One trade at `timestamp_ms`: its price (the path's value then), size and condition."""
        prices, volumes, conditions = self.take_many([timestamp_ms])
        return prices[0], volumes[0], conditions[0]

    def take_many(self, stamps_ms: list[int]) -> tuple[list[float], list[float], list[int]]:
        """Trades at the non-decreasing `stamps_ms`: prices sampled from the path at those times."""
        shocks, volumes, conditions = self._draws(len(stamps_ms))
        stamps = np.asarray(stamps_ms, dtype=np.int64)
        gaps = np.maximum(np.diff(stamps, prepend=self._last_ms), 0).astype(float)
        # trades in the same millisecond share a price (gap 0): the stamps are the clock
        steps = self._drift_per_ms * gaps + self._sigma_per_sqrt_ms * np.sqrt(gaps) * shocks
        log_prices = np.cumsum(np.concatenate(([self._log_price], steps)))[1:]
        self._log_price, self._last_ms = float(log_prices[-1]), max(self._last_ms, int(stamps[-1]))
        decimals = self.decimals
        prices = np.maximum(np.round(np.exp(log_prices), decimals), 10.0**-decimals)
        return prices.tolist(), volumes, conditions


class Market:
    """All symbols' trades on one virtual clock: trade n is stamped start + n * time_scale / rate
    seconds, so the same seed, rate, time scale and start give the same trades; each symbol's price is
    its `SymbolModel`'s GBM sampled at those stamps, so the statistics do not depend on the rate."""

    def __init__(self, seed: int, rate: float, start_ms: int | None = None, time_scale: float = 1.0,
                 models: Mapping[str, SymbolModel] | None = None) -> None:
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time scale {time_scale!r}: expected a positive number")
        self.seed, self.rate, self.time_scale = seed, rate, time_scale
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        self.models: dict[str, SymbolModel] = dict(models or {})
        self._choice = np.random.default_rng([seed, 0])
        self._uniform: list[float] = []
        self._paths: dict[str, SymbolPath] = {}
        self.count = 0

    def model(self, symbol: str) -> SymbolModel:
        return symbol_model(symbol, self.models)

    def _path(self, symbol: str) -> SymbolPath:
        path = self._paths.get(symbol)
        if path is None:
            path = self._paths[symbol] = SymbolPath(symbol, self.seed, self.model(symbol), self.start_ms)
        return path

    def next_trades(self, symbols: list[str], count: int) -> list[Trade]:
        if not symbols or count <= 0:
            return []
        paths = [self._path(s) for s in symbols]
        n_symbols, start_ms, ms_per_trade = len(symbols), self.start_ms, 1000 * self.time_scale / self.rate
        uniform, first = self._uniform, self.count
        chosen, stamps = [], [start_ms + int(n * ms_per_trade) for n in range(first, first + count)]
        for _ in range(count):
            if not uniform:
                uniform = self._uniform = self._choice.random(BLOCK).tolist()
            chosen.append(int(uniform.pop() * n_symbols))
        drawn = []
        for k, path in enumerate(paths):
            mine = [stamps[i] for i, c in enumerate(chosen) if c == k]
            drawn.append([iter(column) for column in path.take_many(mine)] if mine else None)
        trades = []
        for i, k in enumerate(chosen):
            prices, volumes, conditions = drawn[k]
            trades.append(Trade(paths[k].symbol, next(prices), stamps[i], next(volumes), next(conditions),
                                first + i + 1))
        self.count = first + count
        return trades
