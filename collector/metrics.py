"""Prometheus metrics of one collector (its own registry, so tests can run several), served on
127.0.0.1:<metrics_port>; latency samples are also kept for the benchmark's exact percentiles."""

from __future__ import annotations

import collections
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from collector.exceptions import CollectorError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class CollectorMetrics:
    """Counters and gauges of the collector; `snapshot()` gives plain numbers for tests."""

    def __init__(self, latency_samples: int = 200_000) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("tickplant_collector_frames", "websocket frames received", ["kind"], registry=r)
        self.trades = Counter("tickplant_collector_trades", "valid trades accepted", registry=r)
        self.records = Counter("tickplant_collector_records_produced",
                               "records acknowledged by Kafka", ["topic"], registry=r)
        self.dead_letters = Counter("tickplant_collector_dead_letters",
                                    "refused frames and trades sent to the dead-letter topic", registry=r)
        self.server_errors = Counter("tickplant_collector_server_errors", "error messages from the source",
                                     registry=r)
        self.reconnects = Counter("tickplant_collector_reconnects", "websocket reconnections", registry=r)
        self.produce_failures = Counter("tickplant_collector_produce_failures",
                                        "records Kafka failed to take (resent from the journal, or kept as rejected)",
                                        registry=r)
        self.queue_depth = Gauge("tickplant_collector_queue_depth", "frames queued in memory for the producer",
                                 registry=r)
        self.spool_bytes = Gauge("tickplant_collector_spool_bytes", "bytes in the write-ahead journal (spool dir)",
                                 registry=r)
        self.journal_unwritten = Gauge("tickplant_collector_journal_unwritten_records",
                                       "records received but not yet handed to the OS (a kill -9 now would lose "
                                       "them; the journal writer hands them over every few milliseconds)",
                                       registry=r)
        self.spooled = Counter("tickplant_collector_spooled_records",
                               "records journaled while the in-memory queue was full (read back from disk)", registry=r)
        self.latency = Histogram("tickplant_collector_produce_latency_seconds",
                                 "frame receipt to Kafka acknowledgement", buckets=LATENCY_BUCKETS, registry=r)
        self._samples: collections.deque[float] = collections.deque(maxlen=latency_samples)
        self._server: Any = None
        self._lock = threading.Lock()

    def observe_latency(self, seconds: float) -> None:
        self.latency.observe(seconds)
        self._samples.append(seconds)

    def latency_samples(self) -> list[float]:
        return list(self._samples)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics; port 0 means off."""
        if port:
            try:
                self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
            except OSError as exc:
                raise CollectorError(f"metrics port {host}:{port} unavailable ({exc.strerror or exc}); "
                                     "pass another --metrics-port, or 0 to turn metrics off") from None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith(("_created", "_bucket")):
                    continue
                label = ",".join(f"{v}" for v in sample.labels.values())
                values[sample.name + (f"[{label}]" if label else "")] = sample.value
        return values
