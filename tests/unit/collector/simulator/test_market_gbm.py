"""The simulator's prices are a GBM in calendar time: sigma per year whatever the trade rate or the
time scale, start prices as configured, reproducible from the seed."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from collector.exceptions import SimulatorError
from collector.simulator import Simulator, SimulatorConfig, market
from tests.helpers import run_cli
from tickplant.cli import build_parser

START_MS = 1_700_000_000_000
MODELS = {"AAPL": market.SymbolModel(0.10, 0.30, 230.0),
          "BINANCE:BTCUSDT": market.SymbolModel(0.20, 0.70, 95_000.0)}
SYMBOLS = ["AAPL", "BINANCE:BTCUSDT", "BINANCE:DOGEUSDT"]     # DOGE: default model, a sub-dollar price


def scaled_returns(trades: list[market.Trade], model_of) -> dict[str, np.ndarray]:
    """Per symbol: (log return - drift dt) / sqrt(dt) between consecutive trades dt > 0 apart, dt in years."""
    by_symbol: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for trade in trades:
        by_symbol[trade.symbol].append((trade.timestamp_ms, trade.price))
    result = {}
    for symbol, points in by_symbol.items():
        stamps = np.array([p[0] for p in points], dtype=float)
        prices = np.array([p[1] for p in points])
        dt = np.diff(stamps) / market.MS_PER_YEAR
        returns = np.diff(np.log(prices))
        moved = dt > 0
        model = model_of(symbol)
        drift = (model.mu - model.sigma**2 / 2) * dt[moved]
        result[symbol] = (returns[moved] - drift) / np.sqrt(dt[moved])
    return result


@pytest.mark.parametrize(("rate", "time_scale", "count"), [(5, 1.0, 30_000), (50_000, 1.0, 150_000),
                                                          (3_000, 60.0, 60_000)])
def test_realised_sigma_matches_the_model_at_any_rate_and_time_scale(rate, time_scale, count):
    m = market.Market(12, rate=rate, start_ms=START_MS, time_scale=time_scale, models=MODELS)
    trades = m.next_trades(SYMBOLS, count)
    for symbol, scaled in scaled_returns(trades, m.model).items():
        sigma = m.model(symbol).sigma
        standard_error = sigma / math.sqrt(2 * len(scaled))
        assert len(scaled) > 2_000, symbol
        assert abs(scaled.std() - sigma) < 3 * standard_error, (symbol, scaled.std(), sigma, len(scaled))


def test_the_rate_does_not_change_the_volatility_of_one_minute_closes():
    """The issue's symptom: at 3,000 trades/s over seven symbols sigma was ~4,600 % a year."""
    symbols = ["AAPL", "AMZN", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "BINANCE:DOGEUSDT"]
    m = market.Market(3, rate=3_000, start_ms=START_MS, time_scale=120.0)   # ~6 virtual hours
    trades = m.next_trades(symbols, 540_000)
    closes: dict[str, dict[int, float]] = defaultdict(dict)
    for trade in trades:
        closes[trade.symbol][trade.timestamp_ms // 60_000] = trade.price
    dt = 60_000 / market.MS_PER_YEAR
    for symbol in symbols:
        minutes = sorted(closes[symbol])
        assert minutes == list(range(minutes[0], minutes[0] + len(minutes)))   # a close every minute
        returns = np.diff(np.log([closes[symbol][k] for k in minutes]))
        sigma = market.symbol_model(symbol).sigma
        assert abs(returns.std() / math.sqrt(dt) - sigma) < 3 * sigma / math.sqrt(2 * len(returns)), symbol


def test_same_seed_gives_identical_trades_and_another_seed_does_not():
    def trades(seed: int) -> list[market.Trade]:
        return market.Market(seed, rate=2_000, start_ms=START_MS, time_scale=10.0, models=MODELS).next_trades(
            SYMBOLS, 5_000)
    assert trades(5) == trades(5)
    assert [t.price for t in trades(5)] != [t.price for t in trades(6)]


def test_prices_start_at_the_configured_start_prices():
    for symbol in [*SYMBOLS, "AMZN", "MSFT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "SOMETHING"]:
        model = market.symbol_model(symbol, MODELS)
        price, _, _ = market.SymbolPath(symbol, 1, model, START_MS).take(START_MS)
        assert price == model.start_price
    first: dict[str, float] = {}
    for trade in market.Market(1, rate=1_000_000, start_ms=START_MS, models=MODELS).next_trades(SYMBOLS, 300):
        first.setdefault(trade.symbol, trade.price)
    assert first["AAPL"] == pytest.approx(230.0, rel=1e-4)
    assert first["BINANCE:BTCUSDT"] == pytest.approx(95_000.0, rel=1e-4)
    assert first["BINANCE:DOGEUSDT"] == pytest.approx(0.35, rel=1e-4)


def test_default_models_are_of_the_real_order():
    assert market.symbol_model("AAPL") == market.SymbolModel(0.10, 0.28, 230.0)
    assert market.symbol_model("BINANCE:BTCUSDT") == market.symbol_model("BTC/USD") == market.DEFAULT_MODELS["BTC"]
    assert 0.25 <= market.symbol_model("MSFT").sigma <= 0.35
    assert 0.6 <= market.symbol_model("BINANCE:ETHUSDT").sigma <= 0.8
    unknown = market.symbol_model("ZZZ")
    assert unknown == market.symbol_model("ZZZ") and unknown.sigma == 0.30 and 20 <= unknown.start_price < 420
    assert market.symbol_model("BINANCE:FOOUSDT").sigma == 0.75


def test_overrides_replace_only_the_given_parameters():
    models = market.override_models({}, {"AAPL": 0.5}, {"NEWCO": 12.5})
    assert models == {"AAPL": market.SymbolModel(0.10, 0.5, 230.0),
                      "NEWCO": market.SymbolModel(0.08, 0.30, 12.5)}
    with pytest.raises(ValueError, match="sigma"):
        market.override_models({}, {"AAPL": -0.1}, {})


def test_market_file_mapping_gives_models_and_flags_override_it(tmp_path):
    base = market.models_from_mapping({"AAPL": {"sigma": 0.4}, "NEWCO": {"mu": 0.0, "sigma": 0.2, "start_price": 5}})
    assert base == {"AAPL": market.SymbolModel(0.10, 0.4, 230.0), "NEWCO": market.SymbolModel(0.0, 0.2, 5.0)}
    merged = market.override_models({"AAPL": 0.02}, {}, {}, base)
    assert merged == {"AAPL": market.SymbolModel(0.02, 0.4, 230.0), "NEWCO": market.SymbolModel(0.0, 0.2, 5.0)}
    for bad, reason in (([1], "expected a mapping"), ({"AAPL": {"vol": 1}}, "AAPL: expected"),
                        ({"AAPL": {"sigma": "high"}}, "must be numbers"),
                        ({"AAPL": {"start_price": 0}}, "AAPL: start")):
        with pytest.raises(ValueError, match=reason):
            market.models_from_mapping(bad)
    path = tmp_path / "market.yaml"
    path.write_text("AAPL: {sigma: -1}\n")
    done = run_cli("simulate", "--port", "0", "--market", str(path), timeout=60)
    assert done.returncode == 2 and f"--market {path}: AAPL: sigma -1.0" in done.stderr


def test_time_scale_stamps_and_catch_up_start():
    m = market.Market(1, rate=1_000, start_ms=START_MS, time_scale=60.0)
    stamps = [t.timestamp_ms for t in m.next_trades(["AAPL"], 1_001)]
    assert stamps[0] == START_MS and stamps[-1] == START_MS + 60_000
    start = market.catch_up_start_ms(START_MS, rate=1_000, time_scale=60.0, max_trades=10_000)
    assert start == START_MS - 590_000        # the 10,000th trade, sent ~10 s after now, is stamped now + 10 s


def test_simulator_refuses_an_unbounded_time_scale_and_reports_models():
    with pytest.raises(SimulatorError, match="--max-trades"):
        Simulator(SimulatorConfig(port=0, rate=100, time_scale=60.0))
    simulator = Simulator(SimulatorConfig(port=0, rate=100, time_scale=60.0, max_trades=6_000, models=MODELS))
    assert simulator.market.model("AAPL") is MODELS["AAPL"]
    assert simulator.report()["time_scale"] == 60.0


def test_simulate_flags_parse_and_bad_values_are_refused(capsys):
    parser = build_parser()
    args = parser.parse_args(["simulate", "--sigma", "AAPL=0.3", "--sigma", "BINANCE:BTCUSDT=0.7", "--mu",
                              "AAPL=0.05", "--start-price", "AAPL=100", "--time-scale", "60"])
    assert args.sigma == [("AAPL", 0.3), ("BINANCE:BTCUSDT", 0.7)] and args.mu == [("AAPL", 0.05)]
    assert args.start_price == [("AAPL", 100.0)] and args.time_scale == 60.0
    for bad in (["--sigma", "AAPL"], ["--sigma", "AAPL=x"], ["--sigma", "=0.3"], ["--time-scale", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["simulate", *bad])
    assert "expected" in capsys.readouterr().err
