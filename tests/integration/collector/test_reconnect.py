"""Dropped connections: the collector reconnects with backoff, resubscribes, and every trade the
simulator sent after each reconnect reaches Kafka."""

from __future__ import annotations

from collector.simulator import SimulatorConfig
from core.retry import wait_until
from tests.helpers_collector import read_topic, summarise

SYMBOLS = ("AAPL", "AMZN", "BINANCE:DOGEUSDT")


def test_reconnect_after_drop_loses_no_trade(isolated, feed):
    config = SimulatorConfig(port=0, rate=2000, seed=21, max_trades=8000, frame_trades=40)
    with feed(config, symbols=SYMBOLS, reconnect_initial_s=0.1, reconnect_max_s=0.5) as running:
        simulator, collector = running.simulator, running.collector
        for drop in range(1, 4):
            wait_until(lambda d=drop: collector.connections == d and collector.connected.is_set()
                       and collector.trades > 0, 20, what=f"connection {drop} streaming", initial_s=0.02, maximum_s=0.2)
            streamed = collector.trades
            wait_until(lambda s=streamed: collector.trades > s + 200, 20, what=f"connection {drop} carrying trades",
                       initial_s=0.02, maximum_s=0.1)
            simulator.drop_connections()
        report = running.finish(30)
        reconnects = collector.metrics.snapshot()["tickplant_collector_reconnects_total"]
    assert report["drops"] == 3 and report["connections"] == 4 and reconnects == 3
    assert report["trades"] == 8000
    assert summarise(read_topic(isolated, isolated.kafka.topic)) == report["symbols"]
