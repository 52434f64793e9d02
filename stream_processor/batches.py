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
from stream_processor.cassandra_io import LatestPrices, TradeWrites, WindowStore, upsert
from stream_processor.metrics import BatchStash, summary_values
from stream_processor.options import DRIVER_TRADES

log = get_logger(__name__)


# a batch's time summary, the newest valid trade per symbol, and when its trades were written (epoch ms)
Summary = tuple[dict[str, Any], list[dict[str, Any]], int]
EMPTY_BATCH_TIMES = {"valid_rows": 0, "refused_rows": 0, "late_rows": 0, "event_ms": None, "received_ms": None}


# Observed metrics reach the Observation through Spark's listener bus after the write returns; if
# they never come (an event dropped from a full queue), Observation.get would wait for ever.
OBSERVATION_TIMEOUT_S = 30.0


# Every task of a micro-batch pays a fixed cost (the plan deserialized, from_avro's options built
# with a fresh Hadoop Configuration parsed from XML, the connector's writer): a batch of up to this
# many Kafka records runs in one task, a larger one in one task per this many, up to one per Kafka
# partition (BENCHMARKS.md, issue 19).
RECORDS_PER_TASK = 20_000
# A batch's trades are estimated as its Kafka records times the trades per record of the batch before
# (options.DRIVER_TRADES); the first estimate assumes a fast feed's merged records.
ASSUMED_TRADES_PER_RECORD = 50.0


def summary_of(observation: Observation) -> str:
    """The `summary` metric of `observation` (JSON), waiting for it.

    PySpark 3.5.7 (py4j 0.10.9.7) has no public call for one metric: its public `Observation.get`
    walks the Java map from Python, and py4j ends the walk with an exception that PySpark classifies
    by class lookups across the whole classpath: 75 py4j commands and ~20 ms per batch against 2
    commands and 0.35 ms for one lookup on the JVM side (BENCHMARKS.md, issue 11). So this reads the
    Observation's Java object (`_jo`, private); a unit test checks it against `Observation.get`."""
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
                 windows: bool = True, bars: bool = True, driver_trades: int = DRIVER_TRADES) -> None:
        self._settings = settings
        self._trades = TradeWrites(settings)
        self._driver_trades = driver_trades
        self._trades_per_record = ASSUMED_TRADES_PER_RECORD
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
        keyspace = self._settings.cassandra.keyspace
        if self._files is None:
            self._files = files_for(self._checkpoint, rows.sparkSession)
        # The trades are written first: that is the latency readers see. Then what the batch's summary
        # says (counts, the newest trade per symbol, the windows touched, time percentiles: latency
        # p99 = write time - p01 of the trade times) is written. A small batch is collected to the
        # driver in one Spark job, its trades written through the driver session and summarised in
        # Python; a larger one is written by the connector with the summary observed during that
        # write. Either way the batch is read from Kafka and decoded once.
        clock = _PhaseClock()
        entry = read_offsets(self._files, self._checkpoint, batch_id)
        previous = read_offsets(self._files, self._checkpoint, batch_id - 1) if batch_id else None
        records = batch_records(entry, previous)
        tasks = batch_tasks(records, entry)
        if tasks is not None:
            rows = rows.coalesce(tasks)
        if self._plan is None:
            self._plan = transforms.BatchPlan(rows, self._settings.feed.symbols, self._late_window_ms)
        marked = self._plan.mark_late(rows, entry.watermark_ms if entry else 0)
        small = records is not None and records * self._trades_per_record <= self._driver_trades
        times, newest, written_ms = self._collected(marked, clock) if small else self._observed(marked, batch_id, clock)
        clock.lap("write_trades")
        if records:
            self._trades_per_record = max(1.0, (times["valid_rows"] + times["refused_rows"]) / records)
        if times["refused_rows"]:
            upsert(transforms.dead_letters(rows), self._settings, "dead_letters")
            clock.lap("write_dead_letters")
        self._latest.write(newest)
        clock.lap("write_latest")
        values = summary_values(transforms.latency_from_times(times, written_ms))
        values["phases"] = clock.phases
        values["path"] = "driver" if small else "connector"
        if values["refused_rows"]:
            log.warning("dead letters written", batch_id=batch_id, rows=values["refused_rows"],
                        table=f"{keyspace}.dead_letters")
        self._stash.put(self.query, batch_id, values)
        if self._windows and times.get("windows"):
            self._write_aggregates(batch_id, [(w["symbol"], w["start"]) for w in times["windows"]], clock)

    def _collected(self, marked: DataFrame, clock: _PhaseClock) -> Summary:
        """A small batch: collected in one Spark job, its trades written through the driver session,
        its summary computed in Python."""
        collected = self._plan.collected(marked)
        clock.lap("collect")
        self._trades.write(transforms.collected_trades(collected))
        written_ms = _now_ms()
        return (*rollup.batch_summary(collected), written_ms)

    def _observed(self, marked: DataFrame, batch_id: int, clock: _PhaseClock) -> Summary:
        """A larger batch: written by the connector, its summary observed during the write."""
        symbols = self._settings.feed.symbols
        observation = Observation(f"trades-{batch_id}")
        watched = marked.observe(observation, self._plan.summary)
        upsert(self._plan.valid_trades(watched), self._settings, "trades")
        written_ms = _now_ms()
        clock.lap("connector_write")
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
            return times, newest, written_ms
        return times, [{"symbol": symbol, **times[f"newest_{i}"]}
                       for i, symbol in enumerate(symbols) if times.get(f"newest_{i}")], written_ms

    def _write_aggregates(self, batch_id: int, touched: list[tuple[str, int]], clock: _PhaseClock) -> None:
        """Recompute and write every window the batch touched, then the bars of their minutes; each
        table gets its own metrics under this batch's id (its latency counts from the newest trade of
        the windows it wrote)."""
        windows = self._store.windows(sorted(touched))
        clock.lap("read_windows")
        self._store.write_windows(windows)
        clock.lap("write_windows")
        times = window_times(windows)
        self._stash.put("trades_5s", batch_id, aggregate_values(times, len(windows), clock))
        if self._bars:
            bars = rollup.roll_up(windows, self._store.minute_windows)
            self._store.write_bars(bars)
            clock.lap("roll_up_bars")
            self._stash.put("bars_1m", batch_id, aggregate_values(times, len(bars), clock))


def batch_records(entry: OffsetEntry | None, previous: OffsetEntry | None) -> int | None:
    """The Kafka records the batch whose offsets are `entry` covers (its end offsets less the
    previous batch's), or None when that is not known (the first batch, a partition new in it)."""
    if entry is None or previous is None:
        return None
    starts = previous.offsets
    total = 0
    for topic, partitions in entry.offsets.items():
        for partition, end in partitions.items():
            if partition not in starts.get(topic, {}):
                return None   # a partition new in this batch: its start offset is not in the log
            total += max(0, end - starts[topic][partition])
    return total


def batch_tasks(records: int | None, entry: OffsetEntry | None,
                records_per_task: int = RECORDS_PER_TASK) -> int | None:
    """How many tasks a batch of `records` Kafka records (`batch_records`) should run in; None (as
    many as Spark plans: one per Kafka partition) when that is not known or would be that many anyway."""
    if records is None or entry is None:
        return None
    partitions = sum(len(partitions) for partitions in entry.offsets.values())
    tasks = max(1, -(-records // records_per_task))
    return tasks if tasks < partitions else None


def aggregate_values(times: dict[str, Any], rows: int, clock: _PhaseClock) -> dict[str, Any]:
    """The stash's dict for an aggregate table written now: its rows and latency, no late rows (a
    late trade recomputes its window)."""
    values = summary_values(transforms.latency_from_times(times, _now_ms()))
    values.update(valid_rows=rows, late_rows=0, phases=dict(clock.phases))
    return values


def window_times(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`time_summary`'s row for the written windows: their count and the 1st/50th percentile of
    their newest trade times (a window's latency counts from its newest trade)."""
    return {"valid_rows": len(rows), "refused_rows": 0, "late_rows": 0,
            "event_ms": rollup.quantiles(row["last_trade_ms"] for row in rows), "received_ms": None}
