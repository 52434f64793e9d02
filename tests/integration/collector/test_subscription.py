"""Subscriptions follow the symbols file while running: added symbols stream, removed ones stop,
without reconnecting."""

from __future__ import annotations

import os
import time

from collector.simulator import SimulatorConfig, SimulatorThread
from core.retry import wait_until
from tests.helpers_collector import read_topic, summarise


def _count(simulator: SimulatorThread, symbol: str) -> int:
    return simulator.report()["symbols"].get(symbol, {}).get("trades", 0)


def test_symbols_file_change_subscribes_and_unsubscribes_without_restart(isolated, feed, tmp_path):
    symbols_file = tmp_path / "symbols.txt"
    symbols_file.write_text("AAPL  # the first one\n")
    with feed(SimulatorConfig(port=0, rate=1500, seed=55), symbols_file=symbols_file) as running:
        simulator, collector = running.simulator, running.collector
        wait_until(lambda: _count(simulator, "AAPL") > 300, 20, what="AAPL streaming", initial_s=0.05, maximum_s=0.1)
        symbols_file.write_text("MSFT,\nBINANCE:BTCUSDT\n")
        later = time.time() + 2
        os.utime(symbols_file, (later, later))        # a visible mtime change on coarse filesystems
        wait_until(lambda: _count(simulator, "MSFT") > 300 and _count(simulator, "BINANCE:BTCUSDT") > 300,
                   20, what="new symbols streaming", initial_s=0.05, maximum_s=0.1)
        apple, microsoft = _count(simulator, "AAPL"), _count(simulator, "MSFT")
        # while the symbols still subscribed stream 300 more trades, AAPL streams none
        wait_until(lambda: _count(simulator, "MSFT") > microsoft + 300, 20, what="MSFT streaming on",
                   initial_s=0.05, maximum_s=0.1)
        assert _count(simulator, "AAPL") == apple, "AAPL still streaming after it was removed"
        assert collector.connections == 1 and collector.symbols == ("MSFT", "BINANCE:BTCUSDT")
        simulator.stop()                               # no more trades: everything sent is countable
        assert collector.publisher.wait_idle(30)
    report = simulator.report()
    assert summarise(read_topic(isolated, isolated.kafka.topic)) == report["symbols"]
