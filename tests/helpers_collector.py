"""Test helpers for the collector: a collector in a background thread, a seeded simulator feeding
one (`simulated_feed`), and reading back what it produced (decoded trades with their headers) to
compare with the simulator's report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.client import Collector, CollectorOptions, run_in_thread
from collector.simulator import SimulatorConfig, SimulatorThread
from core import kafka as kafka_clients
from core.config import Settings
from core.retry import wait_until
from core.schemas import HEADER_FRAMES, HEADER_PRODUCER_ID, HEADER_SEQUENCE, decode_message


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

    def frames(self) -> list[tuple[str, int]]:
        """(frame sequence, trades) runs of the record: its tp-frames header, else one run."""
        header = self.headers.get(HEADER_FRAMES)
        if header is None:
            return [(self.headers[HEADER_SEQUENCE], len(self.trades()))]
        return [(seq, int(count)) for seq, _, count in (run.partition(":") for run in header.split(","))]

    def identified_trades(self) -> list[tuple[str, dict[str, Any]]]:
        """(trade id, trade) as the stream processor derives the id: producer-frame seq-index in frame."""
        producer, trades = self.headers[HEADER_PRODUCER_ID], self.trades()
        ids = [f"{producer}-{seq}-{index}" for seq, count in self.frames() for index in range(count)]
        assert len(ids) == len(trades), f"tp-frames covers {len(ids)} of {len(trades)} trades"
        return list(zip(ids, trades, strict=True))


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[ProducedRecord]:
    """Every record of `topic` up to its end offsets at call time, in partition/offset order."""
    return [ProducedRecord(record.topic, record.partition, record.offset, record.key, record.value,
                           {name: value.decode("utf-8", "replace") for name, value in record.headers or []})
            for record in kafka_clients.read_to_end(settings, topic, timeout_s)]


def identified(records: list[ProducedRecord]) -> list[tuple[str, str, dict[str, Any]]]:
    """(symbol, trade id, trade) of every trade in the records, in record order."""
    return [(record.key.decode(), trade_id, trade) for record in records
            for trade_id, trade in record.identified_trades()]


def first_occurrences(records: list[ProducedRecord]) -> list[tuple[str, str, dict[str, Any]]]:
    """`identified(records)` keeping only the first occurrence of each (symbol, trade id)."""
    seen: set[tuple[str, str]] = set()
    result = []
    for symbol, trade_id, trade in identified(records):
        if (symbol, trade_id) not in seen:
            seen.add((symbol, trade_id))
            result.append((symbol, trade_id, trade))
    return result


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
    thread = run_in_thread(collector)
    try:
        yield collector
    finally:
        collector.stop()
        thread.join(stop_timeout_s)
        if thread.is_alive():
            raise TimeoutError(f"the collector did not stop within {stop_timeout_s:.0f}s")


@dataclass(frozen=True)
class SimulatedFeed:
    """A running simulator and the collector reading it."""

    simulator: SimulatorThread
    collector: Collector

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Wait until the simulator has sent its `max_trades`, the collector has read every valid trade
        of them (a frame still in the socket when the block ends and the collector stops was never
        received) and has every record acknowledged; returns the simulator's report (final: nothing
        is sent after that)."""
        wait_until(lambda: self.simulator.report()["done"], timeout_s, what="the simulator sending every trade",
                   initial_s=0.05, maximum_s=0.1)
        report = self.simulator.report()
        wait_until(lambda: self.collector.metrics.snapshot()["tickplant_collector_trades_total"] >= report["trades"],
                   timeout_s, what=f"the collector reading the {report['trades']} trades sent", initial_s=0.05,
                   maximum_s=0.1)
        assert self.collector.publisher.wait_idle(30)
        return report


@contextlib.contextmanager
def simulated_feed(settings: Settings, config: SimulatorConfig, spool_dir: Path,
                   **collector_options: Any) -> Iterator[SimulatedFeed]:
    """A seeded simulator and a collector reading it (metrics off unless `metrics_port` is given)
    for the `with` block; at its end the collector stops (and flushes), then the simulator."""
    simulator = SimulatorThread(config).start()
    try:
        options = CollectorOptions(**{"url": simulator.url, "metrics_port": 0, "spool_dir": spool_dir,
                                      **collector_options})
        with running_collector(settings, options) as collector:
            yield SimulatedFeed(simulator, collector)
    finally:
        simulator.stop()
