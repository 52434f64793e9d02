"""Starting, watching and stopping the streaming query: the Kafka source, the one `trades` query
(every second; each batch writes the trades, then recomputes the 5 s windows and 1 min bars it
touched from the stored trades), graceful shutdown.
"""

from __future__ import annotations

import signal
import threading
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from core.checkpoints import checkpoint_base, query_checkpoint
from core.config import Settings
from core.logging import get_logger
from core.security import kafka_source_options
from stream_processor.batches import TradesBatch
from stream_processor.metrics import BatchStash, ProgressPoller
from stream_processor.options import StreamOptions
from stream_processor.prometheus import StreamMetrics

log = get_logger(__name__)


def kafka_records(spark: SparkSession, settings: Settings, options: StreamOptions) -> DataFrame:
    reader = (spark.readStream.format("kafka")
              .option("subscribe", settings.kafka.topic)
              .option("startingOffsets", options.starting_offsets)
              .option("includeHeaders", "true")
              .option("failOnDataLoss", "true")
              # Each task seeks its consumer to the batch's range; a fetch still parked at the log end
              # would hold that seek for the broker's full wait (500 ms by default) in every task.
              .option("kafka.fetch.max.wait.ms", str(options.kafka_fetch_wait_ms))
              # servers, SASL (a JAAS line) and TLS as source options: never in the Spark conf
              .options(**kafka_source_options(settings)))
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    records = reader.load()
    # Every task of every batch pays a fixed cost (deserializing the plan, from_avro's options): on a
    # small box fewer, fuller tasks win (BENCHMARKS.md, issue 11).
    return records.coalesce(options.source_tasks) if options.source_tasks else records


def start_queries(spark: SparkSession, settings: Settings, rows: DataFrame,
                  options: StreamOptions) -> tuple[list[StreamingQuery], ProgressPoller]:
    """Start the `trades` query over `rows` (the output of `transforms.trade_rows`), and the poller
    that writes its pipeline_metrics (a row per batch for each table written)."""
    wanted = options.queries
    base = checkpoint_base(settings, options.checkpoint_dir)
    stash = BatchStash()
    exporter = StreamMetrics()
    exporter.serve(settings.runtime.stream_metrics_port, settings.runtime.stream_metrics_host)
    poller = ProgressPoller(settings, stash, set(wanted), exporter)
    # The watermark only tells which trades arrived after their window closed (counted as late); no
    # state depends on it: the windows are recomputed from the stored trades, which a duplicate
    # cannot change (an upsert by trade id) and a late trade simply joins.
    watermarked = rows.withWatermark("event_time", options.watermark)
    checkpoint = query_checkpoint(base, "trades")
    handler = TradesBatch(settings, checkpoint, stash, windows="trades_5s" in wanted, bars="bars_1m" in wanted,
                          driver_trades=options.driver_trades)
    writer = (watermarked.writeStream.queryName("trades").outputMode("append").foreachBatch(handler)
              .option("checkpointLocation", checkpoint))
    writer = writer.trigger(availableNow=True) if options.once else writer.trigger(processingTime=options.trigger)
    query = writer.start()
    log.info("query running", query="trades", checkpoint=checkpoint,
             trigger="availableNow" if options.once else options.trigger)
    poller.start([query])
    return [query], poller


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
