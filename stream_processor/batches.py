"""The foreachBatch handlers: what each query does with one micro-batch. Every write is an
upsert by a deterministic key, so a batch replayed after a crash leaves the tables unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, Observation

from core.checkpoints import OffsetEntry, files_for, read_offsets
from core.config import Settings
from core.logging import get_logger
from stream_processor import rollup, transforms
from stream_processor.cassandra_io import LatestPrices, WindowStore, upsert
from stream_processor.metrics import BatchStash, summary_values

log = get_logger(__name__)


EMPTY_BATCH_TIMES = {"valid_rows": 0, "refused_rows": 0, "late_rows": 0, "event_ms": None, "received_ms": None}


# Observed metrics reach the Observation through Spark's listener bus after the write returns; if
# they never come (an event dropped from a full queue), Observation.get would wait for ever.
OBSERVATION_TIMEOUT_S = 30.0


def summary_of(observation: Observation) -> str:
    """The `summary` metric of `observation` (JSON), waiting for it. One map lookup on the JVM side:
    `Observation.get` walks the Java map from Python, and py4j ends the walk with an exception that
    PySpark classifies by class lookups across the whole classpath (BENCHMARKS.md, issue 11)."""
    return observation._jo.getAsJava().get("summary")


def observed_metrics(fetch: Callable[[], str], timeout_s: float) -> str | None:
    """What `fetch` returns (the batch's observed `summary`), or None when it has not returned within
    `timeout_s`: the caller then computes the summary itself. A wait that never ends is left to its
    daemon thread."""
    result: list[str] = []
    waiter = threading.Thread(target=lambda: result.append(fetch()), name="observed-metrics", daemon=True)
    waiter.start()
    waiter.join(timeout_s)
    if not result:
        log.warning("observed batch metrics did not arrive; summarising the batch in a second pass",
                    timeout_s=timeout_s)
        return None
    return result[0]


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
    """The one query (`trades`): raw trades, dead letters, latest prices and exact late-trade counts,
    then the 5 s windows its trades touched, recomputed from the stored trades, and the 1 min bars of
    their minutes rolled up from the stored windows."""

    query = "trades"

    def __init__(self, settings: Settings, checkpoint: str, stash: BatchStash, late_window_ms: int = 5_000,
                 windows: bool = True, bars: bool = True) -> None:
        self._settings = settings
        self._checkpoint = checkpoint
        self._stash = stash
        self._late_window_ms = late_window_ms
        self._latest = LatestPrices(settings)
        self._store = WindowStore(settings)
        self._windows = windows or bars
        self._bars = bars
        self._files: Any = None
        self._plan: transforms.BatchPlan | None = None   # built on the first batch, reused by every one

    def __call__(self, rows: DataFrame, batch_id: int) -> None:
        keyspace = self._settings.cassandra_keyspace
        if self._files is None:
            self._files = files_for(self._checkpoint, rows.sparkSession)
        # The trades are written first: that is the latency readers see. The batch's summary (counts,
        # the newest trade per symbol, the windows touched, time percentiles: latency p99 = write time -
        # p01 of the trade times) is observed during that write, so the batch is read from Kafka and
        # decoded once; a second grouped pass runs only for symbols outside TICKPLANT_SYMBOLS (or if the
        # observed metrics never arrive).
        clock = _PhaseClock()
        entry = read_offsets(self._files, self._checkpoint, batch_id)
        tasks = batch_tasks(entry, read_offsets(self._files, self._checkpoint, batch_id - 1) if batch_id else None)
        if tasks is not None:
            rows = rows.coalesce(tasks)
        symbols = self._settings.symbols
        if self._plan is None:
            self._plan = transforms.BatchPlan(rows, symbols, self._late_window_ms)
        marked = self._plan.mark_late(rows, entry.watermark_ms if entry else 0)
        observation = Observation(f"trades-{batch_id}")
        watched = marked.observe(observation, self._plan.summary)
        upsert(self._plan.valid_trades(watched), self._settings, "trades")
        written_ms = _now_ms()
        clock.lap("write_trades")
        observed = observed_metrics(lambda: summary_of(observation), OBSERVATION_TIMEOUT_S)
        times = {**EMPTY_BATCH_TIMES, **json.loads(observed or "{}")}
        if observed is None or times.get("other_symbols"):
            # A symbol outside TICKPLANT_SYMBOLS (a replay, another producer): its newest trade needs
            # the grouped pass over the batch; so does a batch whose observed metrics never came.
            summary_rows = transforms.trades_summary(marked).collect()
            newest = [{"symbol": row["symbol"], **row["newest"].asDict()}
                      for row in summary_rows if not row["is_total"] and row["newest"]]
            total = next((row.asDict(recursive=True) for row in summary_rows if row["is_total"]), None)
            if observed is None:
                times = total or EMPTY_BATCH_TIMES
            times["windows"] = (total or {}).get("windows") or []
            clock.lap("summary")
        else:
            newest = [{"symbol": symbol, **times[f"newest_{i}"]}
                      for i, symbol in enumerate(symbols) if times.get(f"newest_{i}")]
        if times["refused_rows"]:
            upsert(transforms.dead_letters(rows), self._settings, "dead_letters")
            clock.lap("write_dead_letters")
        self._latest.write(newest)
        clock.lap("write_latest")
        values = summary_values(transforms.latency_from_times(times, written_ms))
        values["phases"] = clock.phases
        if values["refused_rows"]:
            log.warning("dead letters written", batch_id=batch_id, rows=values["refused_rows"],
                        table=f"{keyspace}.dead_letters")
        self._stash.put(self.query, batch_id, values)
        if self._windows and times.get("windows"):
            self._write_aggregates(batch_id, [(w["symbol"], w["start"]) for w in times["windows"]], clock)

    def _write_aggregates(self, batch_id: int, touched: list[tuple[str, int]], clock: _PhaseClock) -> None:
        """Recompute and write every window the batch touched, then the bars of their minutes; each
        table gets its own metrics under this batch's id (its latency counts from the newest trade of
        the windows it wrote)."""
        stored = self._store.window_trades(sorted(touched))
        clock.lap("read_windows")
        windows = [window for (symbol, start), trades in stored.items()
                   if (window := rollup.window_from_trades(symbol, start, trades)) is not None]
        self._store.write_windows(windows)
        clock.lap("write_windows")
        times = window_times(windows)
        self._stash.put("trades_5s", batch_id, aggregate_values(times, len(windows), clock))
        if self._bars:
            bars = rollup.roll_up(windows, self._store.minute_windows)
            self._store.write_bars(bars)
            clock.lap("roll_up_bars")
            self._stash.put("bars_1m", batch_id, aggregate_values(times, len(bars), clock))


# Every task of a micro-batch pays a fixed cost (the plan deserialized, from_avro's options built
# with a fresh Hadoop Configuration parsed from XML, the connector's writer): a batch of up to this
# many Kafka records runs in one task, a larger one in one task per this many, up to one per Kafka
# partition (BENCHMARKS.md, issue 19).
RECORDS_PER_TASK = 20_000


def batch_tasks(entry: OffsetEntry | None, previous: OffsetEntry | None,
                records_per_task: int = RECORDS_PER_TASK) -> int | None:
    """How many tasks the batch whose offsets are `entry` should run in, from the Kafka records it
    covers (its end offsets less the previous batch's); None (as many as Spark plans: one per Kafka
    partition) when that is not known (the first batch) or would be that many anyway."""
    if entry is None or previous is None:
        return None
    ends = [(topic, partition, end) for topic, partitions in entry.offsets.items()
            for partition, end in partitions.items()]
    starts = previous.offsets
    if any(partition not in starts.get(topic, {}) for topic, partition, _ in ends):
        return None   # a partition new in this batch: its start offset is not in the log
    records = sum(max(0, end - starts[topic][partition]) for topic, partition, end in ends)
    tasks = max(1, -(-records // records_per_task))
    return tasks if tasks < len(ends) else None


def aggregate_values(times: dict[str, Any], rows: int, clock: _PhaseClock) -> dict[str, Any]:
    """The stash's dict for an aggregate table written now: its rows and latency, no late rows (a
    late trade recomputes its window)."""
    values = summary_values(transforms.latency_from_times(times, _now_ms()))
    values.update(valid_rows=rows, late_rows=0, phases=dict(clock.phases))
    return values


def window_times(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`time_summary`'s row for the written windows: their count and the 1st/50th percentile of
    their newest trade times (a window's latency counts from its newest trade)."""
    newest = sorted(row["last_trade_ms"] for row in rows)
    quantiles = [newest[int(0.01 * (len(newest) - 1))], newest[int(0.5 * (len(newest) - 1))]] if newest else None
    return {"valid_rows": len(rows), "refused_rows": 0, "late_rows": 0, "event_ms": quantiles, "received_ms": None}
