"""Dropped connections: the collector reconnects with backoff, resubscribes, and every trade the
simulator sent after each reconnect reaches Kafka."""

from __future__ import annotations

import time

from collector.client import CollectorOptions
from collector.harness import read_topic, running_collector, summarise, wait_until
from collector.simulator import SimulatorConfig, SimulatorThread

SYMBOLS = ("AAPL", "AMZN", "BINANCE:DOGEUSDT")


def test_reconnect_after_drop_loses_no_trade(isolated, tmp_path):
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=2000, seed=21, max_trades=8000,
                                                frame_trades=40)).start()
    try:
        options = CollectorOptions(url=simulator.url, symbols=SYMBOLS, metrics_port=0, spool_dir=tmp_path / "spool",
                                   reconnect_initial_s=0.1, reconnect_max_s=0.5)
        with running_collector(isolated, options) as collector:
            for drop in range(1, 4):
                wait_until(lambda d=drop: collector.connections == d and collector.connected.is_set()
                           and collector.trades > 0, 20, 0.02, message=f"connection {drop} streaming")
                time.sleep(0.5)
                simulator.drop_connections()
            wait_until(lambda: simulator.report()["done"], 30, message="simulator sent all trades")
            assert collector.publisher.wait_idle(30)
            reconnects = collector.metrics.snapshot()["tickplant_collector_reconnects_total"]
        report = simulator.report()
    finally:
        simulator.stop()
    assert report["drops"] == 3 and report["connections"] == 4 and reconnects == 3
    assert report["trades"] == 8000
    assert summarise(read_topic(isolated, isolated.kafka_topic)) == report["symbols"]
