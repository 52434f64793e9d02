"""Helpers for tests and end-to-end harnesses: free ports, bounded waits, and reading back what a
collector produced (decoded trades with their headers) to compare with the simulator's report."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from collector.client import Collector, CollectorOptions
from collector.encoding import decode_message
from core import kafka as kafka_clients
from core.config import Settings


@dataclass
class ProducedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    def trades(self) -> list[dict[str, Any]]:
        return decode_message(self.value)["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.1,
               message: str = "condition") -> Any:
    """Poll `predicate` until truthy; raises TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout_s:.0f}s")
        time.sleep(interval_s)


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[ProducedRecord]:
    """Every record of `topic` up to its end offsets at call time, in partition/offset order."""
    consumer = kafka_clients.consumer(settings, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[ProducedRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end offsets within {timeout_s:.0f}s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for message in batch:
                    records.append(ProducedRecord(
                        tp.topic, tp.partition, message.offset, message.key, message.value,
                        {name: value.decode("utf-8", "replace") for name, value in message.headers or []}))
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def summarise(records: list[ProducedRecord]) -> dict[str, dict[str, float]]:
    """Per symbol: trade count and volume sum, the shape of the simulator report's `symbols`."""
    summary: dict[str, dict[str, float]] = {}
    for record in records:
        for trade in record.trades():
            entry = summary.setdefault(trade["s"], {"trades": 0, "volume": 0.0})
            entry["trades"] += 1
            entry["volume"] += trade["v"]
    return summary


@contextlib.contextmanager
def running_collector(settings: Settings, options: CollectorOptions,
                      stop_timeout_s: float = 60.0) -> Iterator[Collector]:
    """A collector in a background thread for the `with` block; stopped (and flushed) at its end."""
    collector = Collector(settings, options)
    thread = threading.Thread(target=collector.run, name="collector", daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.stop()
        thread.join(stop_timeout_s)
        if thread.is_alive():
            raise TimeoutError(f"the collector did not stop within {stop_timeout_s:.0f}s")
