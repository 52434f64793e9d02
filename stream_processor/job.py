"""The stream processor: Kafka topic of Avro trades -> Cassandra (trades, 5 s windows, 1 min bars,
latest prices, dead letters, metrics). Runs as `tickplant stream [flags]` or as

    spark-submit --master 'local[*]' --jars "$(ls var/jars/spark/*.jar | paste -sd,)" \
        stream_processor/job.py [flags]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a script (spark-submit): make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Settings  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from core.logging import get_logger, setup_logging  # noqa: E402
from core.schemas import trade_schema_json  # noqa: E402
from core.spark import build_session  # noqa: E402
from stream_processor import streams, transforms  # noqa: E402
from stream_processor.cassandra_io import close_driver_sessions  # noqa: E402
from stream_processor.options import StreamOptions, add_arguments  # noqa: E402

log = get_logger(__name__)

# Projections whole-stage codegen cannot take (the decode's higher-order functions: headers, tp-frames
# runs) have their code generated again in every task of every micro-batch; interpreted, a small batch
# costs about a third less CPU (BENCHMARKS.md, issue 11).
# spark-submit --conf spark.sql.codegen.factoryMode=FALLBACK restores Spark's default.
# Local checkpoints (offset and commit logs, state store files) are written without Hadoop's .crc
# side files: a batch's two log writes take ~35 instead of ~55 ms on this box. Other file systems
# (hdfs://, s3a://) are untouched.
STREAM_SPARK_CONF = {
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
    "spark.hadoop.fs.AbstractFileSystem.file.impl": "org.apache.hadoop.fs.local.RawLocalFs",
}


def run(settings: Settings, options: StreamOptions) -> int:
    """Build the session, read Kafka, transform, write to Cassandra, await; returns the exit code."""
    spark = build_session(settings, "tickplant-stream", STREAM_SPARK_CONF)
    try:
        records = streams.kafka_records(spark, settings, options)
        rows = transforms.trade_rows(transforms.decode_records(records, trade_schema_json()),
                                     max_future_ms=settings.spark.max_future_ms)
        queries, poller = streams.start_queries(spark, settings, rows, options)
        return streams.await_queries(queries, options, poller)
    finally:
        close_driver_sessions()
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="job.py", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        parser.exit(2, f"job.py: error: {exc}\n")
    setup_logging(args.log_level, secrets=settings.secret_values())
    return run(settings, StreamOptions.from_args(args))


if __name__ == "__main__":
    sys.exit(main())
