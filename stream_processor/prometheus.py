"""Prometheus metrics of the stream processor, fed by the progress poller: rows and rows/s, batch
duration, trade latency p99, Kafka lag (offsets behind the topic's end), dead letters and the time
spent writing to Cassandra, per query; served on TICKPLANT_STREAM_METRICS_PORT (0: off)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from core.logging import get_logger

log = get_logger(__name__)

WRITE_PHASES = ("write_trades", "write_dead_letters", "write_latest", "write_windows", "roll_up_bars")


class StreamMetrics:
    """The gauges and counters; `observe` takes one progress event and what its batch measured."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.input_rows = Counter("tickplant_stream_input_rows", "Kafka records read", ["query"], registry=r)
        self.rows_per_second = Gauge("tickplant_stream_processed_rows_per_second", "rows/s of the last batch",
                                     ["query"], registry=r)
        self.batch_duration = Gauge("tickplant_stream_batch_duration_seconds", "duration of the last batch",
                                    ["query"], registry=r)
        self.latency_p99 = Gauge("tickplant_stream_latency_p99_seconds",
                                 "trade time to Cassandra write, p99 of the last batch", ["query"], registry=r)
        self.lag = Gauge("tickplant_stream_kafka_lag_records", "offsets behind the topic's end after the last batch",
                         ["query"], registry=r)
        self.dead_letters = Counter("tickplant_stream_dead_letters", "refused rows written to dead_letters",
                                    ["query"], registry=r)
        self.cassandra_write = Gauge("tickplant_stream_cassandra_write_seconds",
                                     "time the last batch spent writing to Cassandra", ["query"], registry=r)
        self.last_batch = Gauge("tickplant_stream_last_batch_timestamp_seconds", "when the last batch ran",
                                ["query"], registry=r)

    def observe(self, progress: Any, measured: dict[str, Any], batch_time_s: float) -> None:
        query = progress.name
        self.input_rows.labels(query).inc(int(progress.numInputRows or 0))
        self.rows_per_second.labels(query).set(float(progress.processedRowsPerSecond or 0.0))
        self.batch_duration.labels(query).set(float(progress.batchDuration or 0) / 1000)
        self.last_batch.labels(query).set(batch_time_s)
        if measured.get("latency_p99_ms") is not None:
            self.latency_p99.labels(query).set(float(measured["latency_p99_ms"]) / 1000)
        if measured.get("refused_rows"):
            self.dead_letters.labels(query).inc(int(measured["refused_rows"]))
        phases = measured.get("phases") or {}
        self.cassandra_write.labels(query).set(sum(phases.get(p, 0) for p in WRITE_PHASES) / 1000)
        behind = [source.metrics.get("maxOffsetsBehindLatest") for source in progress.sources or []
                  if getattr(source, "metrics", None)]
        if any(value is not None for value in behind):
            self.lag.labels(query).set(sum(float(value) for value in behind if value is not None))

    def serve(self, port: int, host: str = "127.0.0.1") -> bool:
        """Serve /metrics; a port in use is a warning, not a failure of the pipeline."""
        if not port:
            return False
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.warning("stream metrics not served", port=port, error=str(exc))
            return False
        log.info("stream metrics served", url=f"http://{host}:{port}/metrics")
        return True
