"""Starting, watching and stopping the streaming queries: the Kafka source, one query per
trigger cadence (`trades` every second; `trades_5s`, which also writes `bars_1m`, every 5 s),
graceful shutdown.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from core.checkpoints import checkpoint_base, query_checkpoint
from core.config import Settings
from core.logging import get_logger
from core.security import kafka_source_options
from stream_processor import transforms
from stream_processor.batches import TradesBatch, WindowBatch
from stream_processor.metrics import BatchStash, ProgressPoller
from stream_processor.options import StreamOptions
from stream_processor.prometheus import StreamMetrics

log = get_logger(__name__)


def kafka_records(spark: SparkSession, settings: Settings, options: StreamOptions) -> DataFrame:
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", ",".join(settings.kafka_bootstrap_servers))
              .option("subscribe", settings.kafka_topic)
              .option("startingOffsets", options.starting_offsets)
              .option("includeHeaders", "true")
              .option("failOnDataLoss", "true")
              # Each task seeks its consumer to the batch's range; a fetch still parked at the log end
              # would hold that seek for the broker's full wait (500 ms by default) in every task.
              .option("kafka.fetch.max.wait.ms", str(options.kafka_fetch_wait_ms))
              # SASL (a JAAS line built here) and TLS as source options: never in the Spark conf
              .options(**kafka_source_options(settings)))
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    records = reader.load()
    # Every task of every batch pays a fixed cost (deserializing the plan, from_avro's options): on a
    # small box fewer, fuller tasks win (BENCHMARKS.md, issue 11).
    return records.coalesce(options.source_tasks) if options.source_tasks else records


def start_queries(spark: SparkSession, settings: Settings, rows: DataFrame,
                  options: StreamOptions) -> tuple[list[StreamingQuery], ProgressPoller]:
    """Start the requested queries over `rows` (the output of `transforms.trade_rows`), and the poller
    that writes their pipeline_metrics."""
    wanted = options.queries
    base = checkpoint_base(settings, options.checkpoint_dir)
    stash = BatchStash()
    exporter = StreamMetrics()
    exporter.serve(settings.stream_metrics_port, settings.stream_metrics_host)
    poller = ProgressPoller(settings, stash, set(wanted), exporter)
    watermarked = rows.withWatermark("event_time", options.watermark)
    # A record delivered twice (producer retry, journal resend, a replay into the live topic) must not
    # count twice: duplicates are dropped by (symbol, trade_id) while the watermark can still see them;
    # an older copy is late and dropped by the window anyway, so the aggregates stay exact.
    valid = (transforms.valid_trades(rows).withWatermark("trade_timestamp", options.watermark)
             .dropDuplicatesWithinWatermark(["symbol", "trade_id"]))
    plans: dict[str, tuple[DataFrame, Any, str, str]] = {}
    if "trades" in wanted:
        plans["trades"] = (watermarked, TradesBatch(settings, query_checkpoint(base, "trades"), stash),
                           "append", options.trigger)
    if "trades_5s" in wanted or "bars_1m" in wanted:
        # One query reads Kafka for both aggregate tables: the 1 min bars are rolled up from its 5 s
        # windows in the writer (a second windowed query would read, decode and dedup everything again).
        plans["trades_5s"] = (transforms.window_aggregates(valid, "5 seconds"),
                              WindowBatch(settings, stash, bars="bars_1m" in wanted), "update",
                              options.window_trigger)
    queries = []
    for name, (frame, handler, mode, trigger) in plans.items():
        writer = (frame.writeStream.queryName(name).outputMode(mode).foreachBatch(handler)
                  .option("checkpointLocation", query_checkpoint(base, name)))
        writer = writer.trigger(availableNow=True) if options.once else writer.trigger(processingTime=trigger)
        queries.append(writer.start())
        log.info("query running", query=name, checkpoint=query_checkpoint(base, name),
                 trigger="availableNow" if options.once else trigger)
    poller.start(queries)
    return queries, poller


def _stop_gracefully(queries: list[StreamingQuery], timeout_s: float = 30.0) -> None:
    """Let a running batch finish (bounded wait), then stop; an interrupted batch is replayed on restart."""
    deadline = time.monotonic() + timeout_s
    for query in queries:
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()


def await_queries(queries: list[StreamingQuery], options: StreamOptions, poller: ProgressPoller) -> int:
    """Block until --once completes, --await-seconds pass, SIGTERM/SIGINT, or a query fails."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + options.await_seconds if options.await_seconds else None
    failed = None
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            for query in queries:
                try:
                    query.awaitTermination(0.5)
                except Exception:  # StreamingQueryException: reported below with the query's name
                    failed = query
            if failed or all(not q.isActive for q in queries):
                break
    finally:
        _stop_gracefully([q for q in queries if q.isActive])
        poller.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed is not None:
        log.error("stream processor stopped: query failed", query=failed.name,
                  error=str(failed.exception()).splitlines()[0][:500])
        return 1
    log.info("stream processor stopped", reason="signal" if stop.is_set() else "done")
    return 0
