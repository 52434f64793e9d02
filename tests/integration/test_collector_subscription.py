"""Subscriptions follow the symbols file while running: added symbols stream, removed ones stop,
without reconnecting."""

from __future__ import annotations

import os
import time

from collector.client import CollectorOptions
from collector.harness import read_topic, running_collector, summarise, wait_until
from collector.simulator import SimulatorConfig, SimulatorThread


def _count(simulator: SimulatorThread, symbol: str) -> int:
    return simulator.report()["symbols"].get(symbol, {}).get("trades", 0)


def test_symbols_file_change_subscribes_and_unsubscribes_without_restart(isolated, tmp_path):
    symbols_file = tmp_path / "symbols.txt"
    symbols_file.write_text("AAPL  # the first one\n")
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=1500, seed=55)).start()
    try:
        options = CollectorOptions(url=simulator.url, symbols_file=symbols_file, metrics_port=0,
                                   spool_dir=tmp_path / "spool")
        with running_collector(isolated, options) as collector:
            wait_until(lambda: _count(simulator, "AAPL") > 300, 20, message="AAPL streaming")
            symbols_file.write_text("MSFT,\nBINANCE:BTCUSDT\n")
            later = time.time() + 2
            os.utime(symbols_file, (later, later))        # a visible mtime change on coarse filesystems
            wait_until(lambda: _count(simulator, "MSFT") > 300 and _count(simulator, "BINANCE:BTCUSDT") > 300,
                       20, message="new symbols streaming")
            apple = _count(simulator, "AAPL")
            time.sleep(1.0)
            assert _count(simulator, "AAPL") == apple, "AAPL still streaming after it was removed"
            assert collector.connections == 1 and collector.symbols == ("MSFT", "BINANCE:BTCUSDT")
            simulator.stop()                               # no more trades: everything sent is countable
            assert collector.publisher.wait_idle(30)
        report = simulator.report()
    finally:
        simulator.stop()
    assert summarise(read_topic(isolated, isolated.kafka_topic)) == report["symbols"]
