"""The foreachBatch handlers: what each query does with one micro-batch. Every write is an
upsert by a deterministic key, so a batch replayed after a crash leaves the tables unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from core.checkpoints import batch_watermark_ms, files_for
from core.config import Settings
from core.logging import get_logger
from stream_processor import transforms
from stream_processor.cassandra_io import LatestPrices, upsert
from stream_processor.metrics import BatchStash, summary_values

log = get_logger(__name__)


EMPTY_BATCH_TIMES = {"valid_rows": 0, "refused_rows": 0, "late_rows": 0, "event_ms": None, "received_ms": None}


def _now_ms() -> int:
    return int(time.time() * 1000)


class _PhaseClock:
    """Milliseconds spent in each phase of a batch, for the metrics log line (where time goes)."""

    def __init__(self) -> None:
        self.phases: dict[str, int] = {}
        self._last = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = int((now - self._last) * 1000)
        self._last = now


class TradesBatch:
    """`trades` query: raw trades, dead letters and latest prices, plus exact late-trade counts."""

    query = "trades"

    def __init__(self, settings: Settings, checkpoint: str, stash: BatchStash, late_window_ms: int = 5_000) -> None:
        self._settings = settings
        self._checkpoint = checkpoint
        self._stash = stash
        self._late_window_ms = late_window_ms
        self._latest = LatestPrices(settings)
        self._files: Any = None

    def __call__(self, rows: DataFrame, batch_id: int) -> None:
        keyspace = self._settings.cassandra_keyspace
        if self._files is None:
            self._files = files_for(self._checkpoint, rows.sparkSession)
        # The trades are written first: that is the latency readers see. The batch is not cached: Spark's
        # columnar cache cost more than reading and decoding it again from Kafka for the second job (the
        # batch's offsets are fixed, so it is the same data). That job gives counts, the newest trade per
        # symbol and time percentiles (latency p99 = write time - p01 of the trade times).
        clock = _PhaseClock()
        upsert(transforms.valid_trades(rows).select(*transforms.TRADE_COLUMNS), self._settings, "trades")
        written_ms = _now_ms()
        clock.lap("write_trades")
        watermark_ms = batch_watermark_ms(self._files, self._checkpoint, batch_id)
        marked = transforms.mark_late(rows, watermark_ms, self._late_window_ms)
        summary_rows = transforms.trades_summary(marked).collect()
        clock.lap("summary")
        # The rollup has no total row when the batch has no rows at all (a normal batch: an idle
        # topic, or the first trigger of a fresh job).
        times = next((row.asDict() for row in summary_rows if row["is_total"]), EMPTY_BATCH_TIMES)
        if times["refused_rows"]:
            upsert(transforms.dead_letters(rows), self._settings, "dead_letters")
            clock.lap("write_dead_letters")
        self._latest.write([{"symbol": row["symbol"], **row["newest"].asDict()}
                            for row in summary_rows if not row["is_total"] and row["newest"]])
        clock.lap("write_latest")
        values = summary_values(transforms.latency_from_times(times, written_ms))
        values["phases"] = clock.phases
        if values["refused_rows"]:
            log.warning("dead letters written", batch_id=batch_id, rows=values["refused_rows"],
                        table=f"{keyspace}.dead_letters")
        self._stash.put(self.query, batch_id, values)


class WindowBatch:
    """`trades_5s` / `bars_1m` queries: upsert the windows this batch updated."""

    def __init__(self, settings: Settings, query: str, table: str, stash: BatchStash,
                 shape: Callable[[DataFrame], DataFrame]) -> None:
        self._settings = settings
        self.query = query
        self._table = table
        self._stash = stash
        self._shape = shape

    def __call__(self, windows: DataFrame, batch_id: int) -> None:
        windows = windows.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            clock = _PhaseClock()
            times = transforms.time_summary(windows, F.unix_millis(F.col("last_trade_timestamp"))).first()
            clock.lap("read_aggregate_summary")
            if times["valid_rows"]:
                upsert(self._shape(windows), self._settings, self._table)
                clock.lap("write_windows")
            summary = transforms.latency_from_times(times, _now_ms())
        finally:
            windows.unpersist()
        values = summary_values(summary)
        values["phases"] = clock.phases
        values.pop("late_rows")  # for aggregates Spark's own count of rows dropped by the watermark is used
        self._stash.put(self.query, batch_id, values)
