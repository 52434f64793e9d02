"""Exact accounting: every trade the seeded simulator sends is in Kafka exactly once, with the
headers that make trade ids; the metrics endpoint counts them; the simulator is deterministic."""

from __future__ import annotations

import json
import urllib.request

import pytest
import websocket

from collector.simulator import SimulatorConfig, SimulatorThread
from core.net import free_port
from core.schemas import HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE
from tests.helpers_collector import read_topic, summarise

SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT")


def test_seeded_simulator_trades_arrive_in_kafka_exactly_once(isolated, feed):
    metrics_port = free_port()
    config = SimulatorConfig(port=0, rate=4000, seed=11, max_trades=6000, frame_trades=50)
    with feed(config, symbols=SYMBOLS, metrics_port=metrics_port) as running:
        collector = running.collector
        report = running.finish(30)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    records = read_topic(isolated, isolated.kafka.topic)
    assert report["trades"] == 6000 and set(report["symbols"]) == set(SYMBOLS)
    assert summarise(records) == report["symbols"]
    assert read_topic(isolated, isolated.kafka.dead_letter_topic) == []
    assert "tickplant_collector_trades_total 6000.0" in metrics
    assert "tickplant_collector_produce_latency_seconds_count" in metrics

    producer_ids = {r.headers[HEADER_PRODUCER_ID] for r in records}
    assert producer_ids == {collector.producer_id}
    assert {r.headers[HEADER_SOURCE] for r in records} == {"simulator"}
    assert all(int(r.headers[HEADER_RECEIVED_AT]) > 1_600_000_000_000 for r in records)
    for partition in {r.partition for r in records}:   # frames in order within each partition
        sequences = [int(r.headers[HEADER_SEQUENCE]) for r in records if r.partition == partition]
        assert sequences == sorted(sequences)
    ids = [(r.key, r.headers[HEADER_SEQUENCE], i) for r in records for i in range(len(r.trades()))]
    assert len(set(ids)) == 6000                         # trade ids (producer, seq, index) are unique
    assert all(r.key.decode() == t["s"] for r in records for t in r.trades())


def _first_trades(url: str, protocol: str, symbols: tuple[str, ...], count: int) -> list[dict]:
    """The first `count` trades of one connection. Finnhub takes one symbol a message, so a trade
    drawn between two subscribe messages would depend on timing: Finnhub subscribes one symbol,
    Alpaca (one message for all symbols) all four."""
    ws = websocket.create_connection(url, timeout=10)
    try:
        if protocol == "finnhub":
            for symbol in symbols:
                ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
        else:
            ws.send(json.dumps({"action": "auth", "key": "", "secret": ""}))
            ws.send(json.dumps({"action": "subscribe", "trades": list(symbols)}))
        trades: list[dict] = []
        while len(trades) < count:
            message = json.loads(ws.recv())
            if protocol == "finnhub":
                trades += message.get("data", [])
            else:
                trades += [m for m in message if m.get("T") == "t"]
        return trades[:count]
    finally:
        ws.close()


@pytest.mark.parametrize(("protocol", "symbols"), [("finnhub", ("AAPL",)), ("alpaca", SYMBOLS)])
def test_simulator_with_the_same_seed_and_rate_sends_the_same_trades(protocol, symbols):
    runs = []
    for _ in range(2):
        config = SimulatorConfig(port=0, protocol=protocol, rate=2000, seed=5, start_ms=1_700_000_000_000)
        simulator = SimulatorThread(config).start()
        try:
            runs.append(_first_trades(simulator.url, protocol, symbols, 500))
        finally:
            simulator.stop()
    assert runs[0] == runs[1] and len(runs[0]) == 500
    assert {t["s"] if protocol == "finnhub" else t["S"] for t in runs[0]} == set(symbols)
