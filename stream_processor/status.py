"""Progress of the stream processor for `tickplant status`: per query, the Kafka offsets its
checkpoint has committed against the topic's end offsets (lag), the last batch time and watermark.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import kafka as kafka_clients
from core.config import Settings
from stream_processor.checkpoint import (
    QUERY_NAMES,
    LocalFiles,
    checkpoint_base,
    last_committed,
    last_planned,
    query_checkpoint,
)


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def topic_end_offsets(settings: Settings, timeout_s: float = 10.0) -> dict[int, int]:
    """The end offset of each partition of settings.kafka_topic."""
    consumer = kafka_clients.consumer(settings, request_timeout_ms=int(timeout_s * 1000) + 1000,
                                      session_timeout_ms=int(timeout_s * 1000),
                                      api_version_auto_timeout_ms=int(timeout_s * 1000))
    try:
        from kafka import TopicPartition

        partitions = consumer.partitions_for_topic(settings.kafka_topic) or set()
        ends = consumer.end_offsets([TopicPartition(settings.kafka_topic, p) for p in partitions])
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        consumer.close()


def stream_status(settings: Settings, checkpoint_dir: str | None = None,
                  queries: tuple[str, ...] = QUERY_NAMES,
                  end_offsets: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """One dict per query: query, checkpoint, committed_batch, pending_batch, last_batch_time,
    watermark, committed_offsets {partition: next offset}, end_offsets, lag (records), error.
    A caller that already read the topic's end offsets passes them as `end_offsets`."""
    base = checkpoint_base(settings, checkpoint_dir)
    files = LocalFiles()
    ends, kafka_error = end_offsets, None
    if ends is None:
        try:
            ends = topic_end_offsets(settings)
        except Exception as exc:  # status must report, not fail, when Kafka is away
            kafka_error = f"Kafka end offsets unavailable: {type(exc).__name__}: {exc}"
    report = []
    for query in queries:
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
            report.append(row)
            continue
        if entry is not None:
            committed = entry.offsets.get(settings.kafka_topic, {})
            row.update(committed_batch=entry.batch_id, last_batch_time=_iso(entry.batch_timestamp_ms),
                       watermark=_iso(entry.watermark_ms), committed_offsets=committed)
        if planned is not None and (entry is None or planned > entry.batch_id):
            row["pending_batch"] = planned
        if ends is not None:
            committed = row["committed_offsets"]
            row["lag"] = sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
        report.append(row)
    return report


def format_status(report: list[dict[str, Any]]) -> str:
    """The report as aligned text lines, one per query."""
    lines = []
    for row in report:
        lag = "?" if row["lag"] is None else str(row["lag"])
        batch = "-" if row["committed_batch"] is None else str(row["committed_batch"])
        lines.append(f"  {row['query']:<10} batch {batch:<6} lag {lag:<8} "
                     f"last batch {row['last_batch_time'] or '-'}  watermark {row['watermark'] or '-'}"
                     + (f"  ({row['error']})" if row["error"] else ""))
    return "\n".join(lines)
