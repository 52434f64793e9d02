"""The simulator's market: deterministic GBM trades, written by every feed, and faults the collector
must refuse."""

from __future__ import annotations

import json
import random

import pytest

from collector.encoding import FrameContext, frame_records
from collector.feeds import FEEDS, NAMES
from collector.feeds.base import CONDITION_KINDS, FRAME_FAULTS, TRADE_FAULTS, trade_problem
from collector.feeds.finnhub import trade_json
from collector.simulator import market

SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]


def frames(seed: int, sizes: list[int]) -> list[str]:
    m = market.Market(seed, rate=1000, start_ms=1_700_000_000_000)
    trades = []
    for size in sizes:
        trades += m.next_trades(SYMBOLS, size)
    return [trade_json(t) for t in trades]


def test_same_seed_and_rate_give_the_same_trades_whatever_the_frame_sizes():
    assert frames(7, [100] * 10) == frames(7, [1, 999])
    assert frames(7, [1000]) != frames(8, [1000])


def test_generated_trades_are_valid_finnhub_trades_with_varied_conditions():
    trades = [json.loads(t) for t in frames(3, [2000])]
    assert all(trade_problem(t) is None for t in trades)
    assert {repr(t.get("c", "absent")) for t in trades} >= {"None", "'absent'", "['1', '12']"}
    by_symbol = {}
    for t in trades:
        by_symbol.setdefault(t["s"], []).append(t["t"])
    assert all(stamps == sorted(stamps) for stamps in by_symbol.values())


@pytest.mark.parametrize("protocol", NAMES)
def test_every_feed_parses_the_trades_it_writes_back_into_the_same_trades(protocol):
    feed = FEEDS[protocol]
    trades = market.Market(1, rate=500, start_ms=1_700_000_000_000).next_trades(SYMBOLS, 300)
    parsed = feed.parse(feed.frame_text([feed.trade_text(t) for t in trades]))
    assert parsed.trade_count == 300 and not parsed.rejected
    assert [(t["s"], t["p"], t["t"], t["v"]) for symbol in parsed.trades.values() for t in symbol] == \
        [(t.symbol, t.price, t.timestamp_ms, t.volume) for s in dict.fromkeys(t.symbol for t in trades)
         for t in trades if t.symbol == s]
    assert {repr(t.get("c")) for symbol in parsed.trades.values() for t in symbol} >= {"None"}
    conditions = {trade.condition for trade in trades}
    assert conditions == set(range(CONDITION_KINDS))


@pytest.mark.parametrize("protocol", NAMES)
@pytest.mark.parametrize("kind", TRADE_FAULTS)
def test_every_bad_trade_fault_is_refused(protocol, kind):
    feed = FEEDS[protocol]
    trade = market.Market(1, rate=10).next_trades(["AAPL"], 1)[0]
    frame = feed.frame_text([feed.bad_trade(kind, trade)])
    encoded = frame_records(frame, FrameContext("p", 1, 1, "simulator", protocol), "m", "m.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == 1


@pytest.mark.parametrize("protocol", NAMES)
@pytest.mark.parametrize("kind", FRAME_FAULTS)
def test_every_malformed_frame_fault_is_one_dead_letter(protocol, kind):
    frame = FEEDS[protocol].malformed_frame(kind, random.Random(4))
    encoded = frame_records(frame, FrameContext("p", 1, 1, "simulator", protocol), "m", "m.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == 1 and encoded.parsed.error
