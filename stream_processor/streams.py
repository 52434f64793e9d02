"""Starting, watching and stopping the streaming queries: the Kafka source, one query per
trigger cadence (`trades` every second, `trades_5s` and `bars_1m` every 5 s), graceful shutdown.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from core.config import Settings
from core.logging import get_logger
from stream_processor import transforms
from stream_processor.batches import TradesBatch, WindowBatch
from stream_processor.checkpoint import QUERY_NAMES, checkpoint_base, query_checkpoint
from stream_processor.metrics import BatchStash, MetricsListener

log = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `tickplant stream` and of `spark-submit ... stream_processor/job.py`."""
    parser.add_argument("--trigger", default="1 second", help="trigger of the `trades` query (default 1 second)")
    parser.add_argument("--window-trigger", default="5 seconds",
                        help="trigger of the trades_5s and bars_1m queries (default 5 seconds)")
    parser.add_argument("--watermark", default="10 seconds", help="event-time lateness allowed (default 10 seconds)")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=200_000,
                        help="Kafka records per micro-batch at most (default 200000; 0 = unlimited)")
    parser.add_argument("--kafka-fetch-wait-ms", type=int, default=20,
                        help="Kafka consumer fetch.max.wait.ms for the source (default 20)")
    parser.add_argument("--starting-offsets", default="earliest",
                        help="where a fresh checkpoint starts: earliest (default) or latest")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="any Hadoop-compatible path (default <TICKPLANT_HOME>/checkpoints/<keyspace>)")
    parser.add_argument("--queries", default=",".join(QUERY_NAMES),
                        help=f"comma-separated subset of {','.join(QUERY_NAMES)} (default all)")
    parser.add_argument("--once", action="store_true",
                        help="process what the topic holds now (availableNow), then exit")
    parser.add_argument("--await-seconds", type=float, default=None,
                        help="stop gracefully after this many seconds (default: run until SIGTERM/Ctrl-C)")


def kafka_records(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> DataFrame:
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", ",".join(settings.kafka_bootstrap_servers))
              .option("subscribe", settings.kafka_topic)
              .option("startingOffsets", args.starting_offsets)
              .option("includeHeaders", "true")
              .option("failOnDataLoss", "true")
              # Each task seeks its consumer to the batch's range; a fetch still parked at the log end
              # would hold that seek for the broker's full wait (500 ms by default) in every task.
              .option("kafka.fetch.max.wait.ms", str(args.kafka_fetch_wait_ms)))
    if args.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    return reader.load()


def start_queries(spark: SparkSession, settings: Settings, rows: DataFrame,
                  args: argparse.Namespace) -> list[StreamingQuery]:
    """Start the requested queries over `rows` (the output of `transforms.trade_rows`)."""
    wanted = [q.strip() for q in args.queries.split(",") if q.strip()]
    unknown = set(wanted) - set(QUERY_NAMES)
    if unknown:
        raise ValueError(f"--queries: unknown {sorted(unknown)}, expected some of {list(QUERY_NAMES)}")
    base = checkpoint_base(settings, args.checkpoint_dir)
    stash = BatchStash()
    spark.streams.addListener(MetricsListener(settings, stash, set(wanted)))
    watermarked = rows.withWatermark("event_time", args.watermark)
    valid = transforms.valid_trades(rows).withWatermark("trade_timestamp", args.watermark)
    plans: dict[str, tuple[DataFrame, Any, str, str]] = {
        "trades": (watermarked, TradesBatch(settings, query_checkpoint(base, "trades"), stash),
                   "append", args.trigger),
        "trades_5s": (transforms.window_aggregates(valid, "5 seconds"),
                      WindowBatch(settings, "trades_5s", "trades_5s", stash,
                                  lambda frame: frame.select(*transforms.WINDOW_COLUMNS)),
                      "update", args.window_trigger),
        "bars_1m": (transforms.window_aggregates(valid, "1 minute"),
                    WindowBatch(settings, "bars_1m", "bars_1m", stash, transforms.as_bars),
                    "update", args.window_trigger),
    }
    queries = []
    for name in wanted:
        frame, handler, mode, trigger = plans[name]
        writer = (frame.writeStream.queryName(name).outputMode(mode).foreachBatch(handler)
                  .option("checkpointLocation", query_checkpoint(base, name)))
        writer = writer.trigger(availableNow=True) if args.once else writer.trigger(processingTime=trigger)
        queries.append(writer.start())
        log.info("query running", query=name, checkpoint=query_checkpoint(base, name),
                 trigger="availableNow" if args.once else trigger)
    return queries


def _stop_gracefully(queries: list[StreamingQuery], timeout_s: float = 30.0) -> None:
    """Let a running batch finish (bounded wait), then stop; an interrupted batch is replayed on restart."""
    deadline = time.monotonic() + timeout_s
    for query in queries:
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()


def await_queries(queries: list[StreamingQuery], args: argparse.Namespace) -> int:
    """Block until --once completes, --await-seconds pass, SIGTERM/SIGINT, or a query fails."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + args.await_seconds if args.await_seconds else None
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed is not None:
        log.error("stream processor stopped: query failed", query=failed.name,
                  error=str(failed.exception()).splitlines()[0][:500])
        return 1
    log.info("stream processor stopped", reason="signal" if stop.is_set() else "done")
    return 0
