"""The sender's connect step (collector.delivery): a producer that cannot be built is a failed attempt, retried."""

from __future__ import annotations

import threading

from collector import delivery as delivery_module
from collector.publisher import Publisher
from core.config import Settings


def test_a_version_probe_that_times_out_is_retried_not_fatal(tmp_path, monkeypatch):
    # kafka-python asserts when its version probe of a stalled broker guesses a version before 0.11
    attempts = []

    def producer(settings, **overrides):
        attempts.append(overrides)
        if len(attempts) == 1:
            raise AssertionError("Transactional/Idempotent producer requires >= Kafka 0.11 Brokers")
        return "producer"

    monkeypatch.setattr(delivery_module.kafka_clients, "access_refusal", lambda settings: None)
    monkeypatch.setattr(delivery_module.kafka_clients, "producer", producer)
    publisher = Publisher(Settings.from_env(), spool_dir=tmp_path)
    delivery = publisher.delivery
    monkeypatch.setattr(delivery.backoff, "next_delay", lambda: 0.0)
    assert delivery.connect(threading.Event()) is False
    assert delivery.producer is None
    assert delivery.connect(threading.Event()) is True
    assert delivery.producer == "producer"
    assert len(attempts) == 2
