"""The stream processor's options: one frozen dataclass, and the flags that fill it for
`tickplant stream` and `spark-submit ... stream_processor/job.py`. No Spark import here, so
the command line stays light and a bad flag is refused before the JVM starts."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Literal

from core.arguments import non_negative_int, positive_float
from core.checkpoints import QUERY_NAMES

# A micro-batch of up to this many trades is collected to the driver and written through the driver's
# Cassandra session: one Spark job and no observed metrics, which at a few trades per second is most
# of what a batch costs (BENCHMARKS.md, issue 19); a larger one is written by the connector.
DRIVER_TRADES = 2_000
_DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(millisecond|second|minute|hour)s?\s*$")


@dataclass(frozen=True)
class StreamOptions:
    trigger: str = "1 second"
    watermark: str = "10 seconds"
    max_offsets_per_trigger: int = 200_000       # 0 = unlimited
    kafka_fetch_wait_ms: int = 20
    source_tasks: int = 0                         # 0 = one task per Kafka partition
    driver_trades: int = DRIVER_TRADES            # 0 = every batch through the connector
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    checkpoint_dir: str | None = None             # default <TICKPLANT_HOME>/checkpoints/<keyspace>
    queries: tuple[str, ...] = QUERY_NAMES
    once: bool = False
    await_seconds: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StreamOptions:
        return cls(trigger=args.trigger, watermark=args.watermark,
                   max_offsets_per_trigger=args.max_offsets_per_trigger,
                   kafka_fetch_wait_ms=args.kafka_fetch_wait_ms, source_tasks=args.source_tasks,
                   driver_trades=args.driver_trades,
                   starting_offsets=args.starting_offsets,
                   checkpoint_dir=args.checkpoint_dir, queries=args.queries, once=args.once,
                   await_seconds=args.await_seconds)


def spark_duration(text: str) -> str:
    """`5 seconds`, `500 milliseconds`, `1 minute`: the interval strings Spark's triggers accept."""
    if not _DURATION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as '5 seconds' or '1 minute'")
    return text.strip()


def query_names(text: str) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in wanted if name not in QUERY_NAMES]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated subset of {','.join(QUERY_NAMES)}")
    return wanted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `tickplant stream` and of `spark-submit ... stream_processor/job.py`."""
    parser.add_argument("--trigger", type=spark_duration, default="1 second",
                        help="micro-batch trigger of the `trades` query, which writes every table (default 1 second)")
    parser.add_argument("--watermark", type=spark_duration, default="10 seconds",
                        help="event-time lateness after which a trade counts as late in pipeline_metrics; a late "
                        "trade still counts in its window and bar (default 10 seconds)")
    parser.add_argument("--max-offsets-per-trigger", type=non_negative_int, default=200_000,
                        help="Kafka records per micro-batch at most (default 200000; 0 = unlimited)")
    parser.add_argument("--kafka-fetch-wait-ms", type=non_negative_int, default=20,
                        help="Kafka consumer fetch.max.wait.ms for the source (default 20)")
    parser.add_argument("--source-tasks", type=non_negative_int, default=0,
                        help="read each micro-batch in at most this many tasks (default 0: one per Kafka "
                        "partition; 1 suits a 2-core box)")
    parser.add_argument("--driver-trades", type=non_negative_int, default=DRIVER_TRADES,
                        help="a micro-batch of up to about this many trades is collected to the driver and written "
                        "through its Cassandra session, summarised in Python (one Spark job, no observed metrics: "
                        "the cheap path at a few trades per second); a larger one is written by the connector "
                        "(default 2000; 0 = always the connector)")
    parser.add_argument("--starting-offsets", choices=("earliest", "latest"), default="earliest",
                        help="where a fresh checkpoint starts: earliest (default) or latest")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="any Hadoop-compatible path (default <TICKPLANT_HOME>/checkpoints/<keyspace>)")
    parser.add_argument("--queries", type=query_names, default=QUERY_NAMES,
                        help=f"tables to write, a comma-separated subset of {','.join(QUERY_NAMES)} (default all; "
                        "trades is always written, the windows are recomputed from it; bars_1m is rolled up from "
                        "the 5 s windows, so it writes trades_5s too)")
    parser.add_argument("--once", action="store_true",
                        help="process what the topic holds now (availableNow), then exit")
    parser.add_argument("--await-seconds", type=positive_float, default=None,
                        help="stop gracefully after this many seconds (default: run until SIGTERM/Ctrl-C)")
