"""Fault mode: random drops and malformed frames and trades. The collector keeps running, every
refused frame or trade is in the dead-letter topic with a reason, every valid trade in the topic."""

from __future__ import annotations

import json

from collector.simulator import SimulatorConfig
from core.schemas import HEADER_DLQ_REASON, HEADER_PRODUCER_ID, HEADER_SEQUENCE
from tests.helpers_collector import read_topic, summarise

SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT")
FRAME_REASONS = {"invalid_json": "invalid JSON", "unknown_type": "unknown message type", "missing_data": "data list",
                 "wrong_type_data": "data list", "not_an_object": "not an object"}


def test_faults_go_to_dead_letters_and_every_valid_trade_arrives(isolated, feed):
    config = SimulatorConfig(port=0, rate=3000, seed=33, max_trades=9000, frame_trades=30, faults=True,
                             fault_rate=0.08, drop_every_s=0.7, ping_interval_s=0.5)
    with feed(config, symbols=SYMBOLS, reconnect_initial_s=0.05, reconnect_max_s=0.3) as running:
        report = running.finish(45)
        counted = running.collector.metrics.snapshot()["tickplant_collector_dead_letters_total"]
    assert report["drops"] >= 2 and report["pings"] > 0
    assert sum(report["malformed_frames"].values()) >= 5 and sum(report["bad_trades"].values()) >= 5
    assert summarise(read_topic(isolated, isolated.kafka.topic)) == report["symbols"]

    dead = read_topic(isolated, isolated.kafka.dead_letter_topic)
    assert len(dead) == report["dead_letters_expected"] == counted
    assert all(r.headers[HEADER_DLQ_REASON] and r.headers[HEADER_PRODUCER_ID] and r.headers[HEADER_SEQUENCE]
               for r in dead)
    reasons = " ".join(r.headers[HEADER_DLQ_REASON] for r in dead)
    for kind in report["malformed_frames"]:
        assert FRAME_REASONS[kind] in reasons, kind
    for record in dead:   # refused trades keep their raw JSON; refused frames their raw text
        if record.key is not None:
            json.loads(record.value)
