"""The publisher's connect step: a producer that cannot be built is a failed attempt, retried."""

from __future__ import annotations

from collector import publisher as publisher_module
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

    monkeypatch.setattr(publisher_module.kafka_clients, "access_refusal", lambda settings: None)
    monkeypatch.setattr(publisher_module.kafka_clients, "producer", producer)
    publisher = Publisher(Settings.from_env(), spool_dir=tmp_path)
    monkeypatch.setattr(publisher._backoff, "next_delay", lambda: 0.0)
    assert publisher._connect() is False
    assert publisher._producer is None
    assert publisher._connect() is True
    assert publisher._producer == "producer"
    assert len(attempts) == 2
