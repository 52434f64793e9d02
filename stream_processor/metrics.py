"""`pipeline_metrics`: one row per micro-batch and query. Spark's progress reports (input rows,
duration, rates, rows dropped by the watermark) are polled from the running queries; the
foreachBatch handlers add what only they know (write latency percentiles, exact late trades).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.streaming.listener import StreamingQueryProgress

from core.config import Settings
from core.logging import get_logger
from stream_processor.cassandra_io import driver_session
from stream_processor.prometheus import StreamMetrics

log = get_logger(__name__)

INSERT_METRICS = (
    "INSERT INTO {keyspace}.pipeline_metrics (query_name, day, batch_time, batch_id, input_rows, late_rows, "
    "duration_ms, input_rows_per_second, processed_rows_per_second, latency_p50_ms, latency_p99_ms, "
    "receive_latency_p50_ms, receive_latency_p99_ms, valid_rows, refused_rows) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


class BatchStash:
    """Hands what a foreachBatch handler measured to the listener's progress event of that batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, int], dict[str, Any]] = {}

    def put(self, query: str, batch_id: int, values: dict[str, Any]) -> None:
        with self._lock:
            self._items[(query, batch_id)] = values
            for key in [k for k in self._items if k[0] == query and k[1] < batch_id - 100]:
                del self._items[key]

    def has(self, query: str, batch_id: int) -> bool:
        with self._lock:
            return (query, batch_id) in self._items

    def pop(self, query: str, batch_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._items.pop((query, batch_id), None)


def _percentile(values: Any, index: int) -> float | None:
    return float(values[index]) if values and values[index] is not None else None


def summary_values(summary: Any) -> dict[str, Any]:
    """A `transforms.latency_from_times` result as the stash's dict."""
    return {
        "valid_rows": summary["valid_rows"], "refused_rows": summary["refused_rows"],
        "late_rows": summary["late_rows"],
        "latency_p50_ms": _percentile(summary["latency"], 0), "latency_p99_ms": _percentile(summary["latency"], 1),
        "receive_latency_p50_ms": _percentile(summary["receive_latency"], 0),
        "receive_latency_p99_ms": _percentile(summary["receive_latency"], 1),
    }


class ProgressPoller:
    """Writes a pipeline_metrics row for every batch of our queries that read data.

    Spark's progress is polled as JSON (`lastProgress`, and `recentProgress` when batches were missed
    between two polls) instead of arriving through a Python StreamingQueryListener: PySpark turns each
    listener event into Python by walking half a dozen Java maps, and py4j ends every walk with a Java
    exception that PySpark classifies by looking classes up across the whole classpath, about 0.1 CPU-s
    per event (BENCHMARKS.md, issue 11)."""

    def __init__(self, settings: Settings, stash: BatchStash, queries: set[str],
                 exporter: StreamMetrics | None = None, interval_s: float = 0.25) -> None:
        self._settings = settings
        self._stash = stash
        self._queries = queries
        self._insert: Any = None
        self._exporter = exporter
        self._interval_s = interval_s
        self._watched: list[StreamingQuery] = []
        self._done: dict[str, int] = {}     # per query: the newest batch id recorded
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, queries: list[StreamingQuery]) -> None:
        self._watched = list(queries)
        self._thread = threading.Thread(target=self._run, name="progress-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling after one last poll (the final batches of stopped queries included)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.poll()

    def poll(self) -> None:
        for query in self._watched:
            try:
                for progress in self._new_progress(query):
                    self._record(StreamingQueryProgress.fromJson(progress))
            except Exception:  # a metrics failure must never stop the pipeline
                log.exception("pipeline metrics not written")

    def _new_progress(self, query: StreamingQuery) -> list[dict[str, Any]]:
        done = self._done.get(query.name, -1)
        last = query.lastProgress
        if not last or last["batchId"] <= done:
            return []
        reports = [last] if last["batchId"] == done + 1 else query.recentProgress
        fresh = {p["batchId"]: p for p in reports if p["batchId"] > done}  # an idle report repeats an id
        ran = [batch for batch, p in fresh.items() if p["numInputRows"] or self._stash.has(query.name, batch)]
        if ran:
            self._done[query.name] = max(ran)
        return [fresh[batch] for batch in sorted(fresh)]

    def _record(self, progress: Any) -> None:
        # The trades query also writes trades_5s and bars_1m: its batch gets a metrics row under each name.
        names = [progress.name, *(["trades_5s", "bars_1m"] if progress.name == "trades" else [])]
        for name in names:
            if name in self._queries:
                self._record_as(name, progress)

    def _record_as(self, name: str, progress: Any) -> None:
        measured = self._stash.pop(name, progress.batchId)
        if measured is None and (progress.numInputRows == 0 or name != progress.name):
            return   # an aggregate table gets a row only for a batch that wrote it
        measured = measured or {}
        late_rows = measured.get("late_rows", 0)
        batch_time = datetime.strptime(progress.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        duration_ms = int(progress.batchDuration or progress.durationMs.get("triggerExecution", 0))
        if self._exporter is not None and name == progress.name:
            self._exporter.observe(progress, measured, batch_time.timestamp())
        session = driver_session(self._settings)
        if self._insert is None:
            self._insert = session.prepare(INSERT_METRICS.format(keyspace=self._settings.cassandra.keyspace))
        session.execute(self._insert, (
            name, batch_time.date(), batch_time, progress.batchId, progress.numInputRows, late_rows,
            duration_ms, _finite(progress.inputRowsPerSecond), _finite(progress.processedRowsPerSecond),
            measured.get("latency_p50_ms"), measured.get("latency_p99_ms"),
            measured.get("receive_latency_p50_ms"), measured.get("receive_latency_p99_ms"),
            measured.get("valid_rows"), measured.get("refused_rows"),
        ))
        log.info("batch", query=name, batch_id=progress.batchId, input_rows=progress.numInputRows,
                 duration_ms=duration_ms, late_rows=late_rows, refused_rows=measured.get("refused_rows", 0),
                 latency_p99_ms=measured.get("latency_p99_ms"), path=measured.get("path"),
                 phases_ms=",".join(f"{k}={v}" for k, v in measured.get("phases", {}).items()),
                 # Spark's own split of the trigger: offsets, WAL, planning, the batch (addBatch), commit
                 spark_ms=",".join(f"{k}={v}" for k, v in sorted((progress.durationMs or {}).items())))


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
