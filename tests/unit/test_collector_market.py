"""The simulator's market: deterministic GBM trades, and faults the collector must refuse."""

from __future__ import annotations

import json
import random

import pytest

from collector import alpaca, finnhub, market
from collector.encoding import FrameContext, frame_records

SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]


def frames(seed: int, sizes: list[int]) -> list[str]:
    m = market.Market(seed, rate=1000, start_ms=1_700_000_000_000)
    trades = []
    for size in sizes:
        trades += m.next_trades(SYMBOLS, size)
    return [market.finnhub_trade(t) for t in trades]


def test_same_seed_and_rate_give_the_same_trades_whatever_the_frame_sizes():
    assert frames(7, [100] * 10) == frames(7, [1, 999])
    assert frames(7, [1000]) != frames(8, [1000])


def test_generated_trades_are_valid_finnhub_trades_with_varied_conditions():
    trades = [json.loads(t) for t in frames(3, [2000])]
    assert all(finnhub.trade_problem(t) is None for t in trades)
    assert {repr(t.get("c", "absent")) for t in trades} >= {"None", "'absent'", "['1', '12']"}
    by_symbol = {}
    for t in trades:
        by_symbol.setdefault(t["s"], []).append(t["t"])
    assert all(stamps == sorted(stamps) for stamps in by_symbol.values())


def test_generated_alpaca_trades_normalise_to_valid_trades():
    m = market.Market(1, rate=500)
    parsed = alpaca.parse_message(market.alpaca_frame([market.alpaca_trade(t) for t in m.next_trades(SYMBOLS, 300)]))
    assert parsed.trade_count == 300 and not parsed.rejected


@pytest.mark.parametrize("protocol", ["finnhub", "alpaca"])
@pytest.mark.parametrize("kind", market.TRADE_FAULTS)
def test_every_bad_trade_fault_is_refused(protocol, kind):
    trade = market.Market(1, rate=10).next_trades(["AAPL"], 1)[0]
    bad = market.bad_trade(kind, trade, protocol)
    frame = (market.finnhub_frame if protocol == "finnhub" else market.alpaca_frame)([bad])
    encoded = frame_records(frame, FrameContext("p", 1, 1, "simulator", protocol), "m", "m.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == 1


@pytest.mark.parametrize("protocol", ["finnhub", "alpaca"])
@pytest.mark.parametrize("kind", market.FRAME_FAULTS)
def test_every_malformed_frame_fault_is_one_dead_letter(protocol, kind):
    frame = market.malformed_frame(kind, protocol, random.Random(4))
    encoded = frame_records(frame, FrameContext("p", 1, 1, "simulator", protocol), "m", "m.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == 1 and encoded.parsed.error
