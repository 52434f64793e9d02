"""The floor `tickplant bench floor` measures the stream job against: one Spark query that reads the
topic, decodes and explodes the trades exactly as the job does, and writes the valid ones to
`trades` with the Spark Cassandra Connector's own streaming sink (no foreachBatch, no other table,
no metrics). Same session configuration, trigger and checkpoint layout as `tickplant stream`.

    python -m benchmarks.floor_job [--trigger '1 second']     (until SIGTERM)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from core.checkpoints import checkpoint_base, query_checkpoint
from core.config import Settings
from core.schemas import trade_schema_json
from core.security import cassandra_connector_options
from core.spark import build_session
from stream_processor import streams, transforms
from stream_processor.cassandra_io import CASSANDRA_FORMAT
from stream_processor.job import STREAM_SPARK_CONF
from stream_processor.options import StreamOptions, spark_duration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="floor_job", description=__doc__.splitlines()[0])
    parser.add_argument("--trigger", type=spark_duration, default="1 second")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    options = StreamOptions(trigger=args.trigger)
    spark = build_session(settings, "tickplant-floor", STREAM_SPARK_CONF)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        records = streams.kafka_records(spark, settings, options)
        rows = transforms.trade_rows(transforms.decode_records(records, trade_schema_json()),
                                     max_future_ms=settings.spark.max_future_ms)
        query = (transforms.valid_trades(rows).select(*transforms.TRADE_COLUMNS).writeStream
                 .queryName("trades").format(CASSANDRA_FORMAT).outputMode("append")
                 .options(**cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace,
                          table="trades")
                 .option("checkpointLocation", query_checkpoint(checkpoint_base(settings), "trades"))
                 .trigger(processingTime=options.trigger).start())
        while not stop.is_set() and query.isActive:
            stop.wait(0.5)
        query.stop()
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
