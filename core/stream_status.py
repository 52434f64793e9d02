"""Progress of the stream processor for `tickplant status`: per query, the Kafka offsets its
checkpoint has committed against the topic's end offsets (lag), the last batch time and watermark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core import kafka as kafka_clients
from core.checkpoints import (
    STREAMING_QUERIES,
    CheckpointFiles,
    LocalFiles,
    checkpoint_base,
    files_for,
    is_local_path,
    last_committed,
    last_planned,
    query_checkpoint,
)
from core.config import Settings


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def stream_status(settings: Settings, checkpoint_dir: str | None = None,
                  queries: tuple[str, ...] = STREAMING_QUERIES,
                  end_offsets: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """One dict per query: query, checkpoint, committed_batch, pending_batch, last_batch_time,
    watermark, committed_offsets {partition: next offset}, end_offsets, lag (records), error.
    A caller that already read the topic's end offsets passes them as `end_offsets`."""
    base = checkpoint_base(settings, checkpoint_dir)
    ends, kafka_error = end_offsets, None
    if ends is None:
        try:
            ends = kafka_clients.end_offsets(settings, settings.kafka.topic)
        except Exception as exc:  # status must report, not fail, when Kafka is away
            kafka_error = f"Kafka end offsets unavailable: {type(exc).__name__}: {exc}"
    with checkpoint_files(settings, base) as files:
        return [_query_status(settings, files, base, query, ends, kafka_error) for query in queries]


@contextmanager
def checkpoint_files(settings: Settings, base: str) -> Iterator[CheckpointFiles]:
    """The job's own reader for `base`: local paths directly, any other Hadoop scheme (hdfs:, s3a:, ...)
    through a short-lived local SparkSession, as the job reads them."""
    if is_local_path(base):
        yield LocalFiles()
        return
    from core.spark import build_session

    spark = build_session(settings.replace(spark_master="local[1]"), "tickplant-status")
    try:
        yield files_for(base, spark)
    finally:
        spark.stop()


def _query_status(settings: Settings, files: CheckpointFiles, base: str, query: str,
                  ends: dict[int, int] | None, kafka_error: str | None) -> dict[str, Any]:
    checkpoint = query_checkpoint(base, query)
    row: dict[str, Any] = {"query": query, "checkpoint": checkpoint, "committed_batch": None,
                           "pending_batch": None, "last_batch_time": None, "watermark": None,
                           "committed_offsets": {}, "end_offsets": ends or {}, "lag": None,
                           "error": kafka_error}
    try:
        entry = last_committed(files, checkpoint)
        planned = last_planned(files, checkpoint)
    except (OSError, ValueError) as exc:
        row["error"] = f"checkpoint unreadable: {exc}"
        return row
    if entry is not None:
        committed = entry.offsets.get(settings.kafka.topic, {})
        row.update(committed_batch=entry.batch_id, last_batch_time=_iso(entry.batch_timestamp_ms),
                   watermark=_iso(entry.watermark_ms), committed_offsets=committed)
    if planned is not None and (entry is None or planned > entry.batch_id):
        row["pending_batch"] = planned
    if ends is not None:
        committed = row["committed_offsets"]
        row["lag"] = sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
    return row
