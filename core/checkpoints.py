"""Where the queries keep their checkpoints and how to read Spark's offset and commit logs
(`offsets/<batch>`, `commits/<batch>`): committed Kafka offsets, batch time and watermark.
Local paths are read directly; any other Hadoop scheme through a running SparkSession's JVM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

if TYPE_CHECKING:
    from core.config import Settings

QUERY_NAMES = ("trades", "trades_5s", "bars_1m")   # what --queries selects and pipeline_metrics names
STREAMING_QUERIES = ("trades",)                      # the Spark query (checkpoint): it writes every table


def checkpoint_base(settings: Settings, override: str | None = None) -> str:
    """`--checkpoint-dir` if given, else <home>/checkpoints/<keyspace>; one sub-directory per query."""
    return override or str(settings.runtime.home / "checkpoints" / settings.cassandra.keyspace)


# Since issue 19 the `trades` query writes the windows and bars too: the directories of the former
# window query (`trades_5s`, `trades_5s.v2`, `bars_1m`) are no longer read and may be deleted.
def query_checkpoint(base: str, query: str) -> str:
    return base.rstrip("/") + "/" + query


class CheckpointFiles(Protocol):
    def list_names(self, directory: str) -> list[str]: ...
    def read_text(self, path: str) -> str | None: ...


class LocalFiles:
    """Checkpoints on a local (or mounted) file system: plain paths and file: URIs."""

    @staticmethod
    def _path(path: str) -> Path:
        parsed = urlparse(path)
        if parsed.scheme not in ("", "file"):
            raise ValueError(f"checkpoint {path!r}: scheme {parsed.scheme!r} is read through Spark only")
        return Path(parsed.path if parsed.scheme else path)

    def list_names(self, directory: str) -> list[str]:
        folder = self._path(directory)
        return [p.name for p in folder.iterdir()] if folder.is_dir() else []

    def read_text(self, path: str) -> str | None:
        file = self._path(path)
        return file.read_text(encoding="utf-8") if file.is_file() else None


class HadoopFiles:
    """Checkpoints on any Hadoop-compatible file system (hdfs:, s3a:, abfs:, ...), via the JVM."""

    def __init__(self, spark: Any) -> None:
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()

    def _fs(self, path: str) -> tuple[Any, Any]:
        hadoop_path = self._jvm.org.apache.hadoop.fs.Path(path)
        return hadoop_path.getFileSystem(self._conf), hadoop_path

    def list_names(self, directory: str) -> list[str]:
        fs, folder = self._fs(directory)
        if not fs.exists(folder):
            return []
        return [status.getPath().getName() for status in fs.listStatus(folder)]

    def read_text(self, path: str) -> str | None:
        fs, file = self._fs(path)
        if not fs.exists(file):
            return None
        stream = fs.open(file)
        try:
            return self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()


def is_local_path(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


def files_for(path: str, spark: Any = None) -> CheckpointFiles:
    if is_local_path(path) or spark is None:
        return LocalFiles()
    return HadoopFiles(spark)


@dataclass(frozen=True)
class OffsetEntry:
    """One line of the offset log: the batch's Kafka end offsets per topic and partition."""

    batch_id: int
    batch_timestamp_ms: int
    watermark_ms: int
    offsets: dict[str, dict[int, int]]


def batch_ids(files: CheckpointFiles, directory: str) -> list[int]:
    return sorted(int(name) for name in files.list_names(directory) if name.isdigit())


def read_offsets(files: CheckpointFiles, checkpoint: str, batch_id: int) -> OffsetEntry | None:
    text = files.read_text(f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
    if text is None:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    metadata = json.loads(lines[1]) if len(lines) > 1 else {}
    offsets: dict[str, dict[int, int]] = {}
    for line in lines[2:]:
        if line.strip() == "-":  # a source without offsets yet
            continue
        for topic, partitions in json.loads(line).items():
            offsets.setdefault(topic, {}).update({int(p): int(o) for p, o in partitions.items()})
    return OffsetEntry(batch_id=batch_id, batch_timestamp_ms=int(metadata.get("batchTimestampMs", 0)),
                       watermark_ms=int(metadata.get("batchWatermarkMs", 0)), offsets=offsets)


def batch_watermark_ms(files: CheckpointFiles, checkpoint: str, batch_id: int) -> int:
    """The event-time watermark Spark used for `batch_id` (0 before any event time was seen)."""
    entry = read_offsets(files, checkpoint, batch_id)
    return entry.watermark_ms if entry else 0


def last_committed(files: CheckpointFiles, checkpoint: str) -> OffsetEntry | None:
    """The newest batch whose commit is logged: everything up to its offsets is in the sinks."""
    committed = batch_ids(files, f"{checkpoint.rstrip('/')}/commits")
    return read_offsets(files, checkpoint, committed[-1]) if committed else None


def last_planned(files: CheckpointFiles, checkpoint: str) -> int | None:
    planned = batch_ids(files, f"{checkpoint.rstrip('/')}/offsets")
    return planned[-1] if planned else None
