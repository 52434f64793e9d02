"""The raw archive: every received frame as a gzip JSON line carrying what replay needs to
reproduce the same records (receive time, producer id, sequence, source), and the replay itself."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from collector.encoding import FrameContext, frame_records
from collector.exceptions import ArchiveError
from collector.publisher import Publisher
from core.config import Settings
from core.logging import get_logger

log = get_logger(__name__)

ROTATE_BYTES = 64 * 1024 * 1024
ROTATE_SECONDS = 3600


@dataclass(frozen=True)
class Retention:
    """How much archive to keep; None or 0 = no limit of that kind. The oldest files go first."""

    max_age_s: float | None = None
    max_bytes: int | None = None


def apply_retention(directory: Path, retention: Retention, keep: Path | None = None,
                    now: float | None = None) -> list[Path]:
    """Delete archive files older than the age limit, then the oldest until the rest fit the size
    limit; `keep` (the file being written) is never deleted. Returns what was deleted."""
    now = time.time() if now is None else now
    files = []
    for path in directory.glob("frames-*.jsonl.gz"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, path.name, path, stat.st_size))
    files.sort()
    deleted, total = [], sum(size for *_, size in files)
    for mtime, _, path, size in files:
        too_old = bool(retention.max_age_s) and now - mtime > retention.max_age_s
        too_big = bool(retention.max_bytes) and total > retention.max_bytes
        if path == keep or not (too_old or too_big):
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("archive file not deleted", path=str(path), error=str(exc))
            continue
        deleted.append(path)
        total -= size
    if deleted:
        log.info("archive retention deleted old files", files=len(deleted), kept_bytes=total,
                 max_age_h=(retention.max_age_s or 0) / 3600, max_bytes=retention.max_bytes or 0)
    return deleted


class ArchiveWriter:
    """Appends frames to `<dir>/frames-<utc time>-<producer>-<n>.jsonl.gz`, rotating by size and age;
    at each rotation files beyond the retention are deleted, oldest first."""

    def __init__(self, directory: Path, producer_id: str, rotate_bytes: int = ROTATE_BYTES,
                 rotate_seconds: float = ROTATE_SECONDS, retention: Retention | None = None) -> None:
        self.directory = directory
        self.producer_id = producer_id
        self.rotate_bytes, self.rotate_seconds = rotate_bytes, rotate_seconds
        self.retention = retention or Retention()
        directory.mkdir(parents=True, exist_ok=True)
        self._file: gzip.GzipFile | None = None
        self._written = 0
        self._opened_at = 0.0
        self._number = 0
        self.paths: list[Path] = []

    def _rotate(self) -> None:
        self.close()
        self._number += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / f"frames-{stamp}-{self.producer_id[:8]}-{self._number:04d}.jsonl.gz"
        self._file = gzip.open(path, "wb", compresslevel=1)
        self._written, self._opened_at = 0, time.monotonic()
        self.paths.append(path)
        if self.retention.max_age_s or self.retention.max_bytes:
            apply_retention(self.directory, self.retention, keep=path)

    def write(self, context: FrameContext, frame: bytes) -> None:
        if (self._file is None or self._written >= self.rotate_bytes
                or time.monotonic() - self._opened_at >= self.rotate_seconds):
            self._rotate()
        line = json.dumps({"received_ms": context.received_ms, "producer_id": context.producer_id,
                           "seq": context.sequence, "source": context.source, "protocol": context.protocol,
                           "frame": frame.decode("utf-8", "surrogateescape")}).encode() + b"\n"
        self._file.write(line)
        self._written += len(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class ArchivedFrame:
    context: FrameContext
    frame: bytes


def read_archive(paths: list[Path]) -> Iterator[ArchivedFrame]:
    """Frames of the archive files in the given order; a truncated gzip tail ends that file."""
    for path in paths:
        if not path.is_file():
            raise ArchiveError(f"archive file {path} does not exist")
        try:
            with gzip.open(path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    try:
                        entry = json.loads(line)
                        context = FrameContext(str(entry["producer_id"]), int(entry["seq"]),
                                               int(entry["received_ms"]), str(entry["source"]),
                                               str(entry.get("protocol", "finnhub")))
                        frame = str(entry["frame"]).encode("utf-8", "surrogateescape")
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("archive line skipped", path=str(path), line=number, error=str(exc))
                        continue
                    yield ArchivedFrame(context, frame)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            log.warning("archive file ends early (truncated)", path=str(path), error=type(exc).__name__)
        except OSError as exc:
            raise ArchiveError(f"reading archive {path} failed: {exc}") from exc


@dataclass
class ReplayStats:
    frames: int = 0
    trades: int = 0
    dead_letters: int = 0
    delivered: bool = False


def replay(settings: Settings, paths: list[Path], speed: float, publisher: Publisher,
           timeout_s: float = 60.0) -> ReplayStats:
    """Republish archived frames through the collector's own encoding and producer, keeping their
    producer id, sequence and receive time, so downstream trade ids come out the same.
    `speed` 1 = original pace, N = N times faster, 0 = as fast as possible."""
    stats = ReplayStats()
    first_frame_ms: int | None = None
    started = time.monotonic()
    for archived in read_archive(paths):
        context = archived.context
        if speed > 0:
            if first_frame_ms is None:
                first_frame_ms = context.received_ms
            due = started + (context.received_ms - first_frame_ms) / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        encoded = frame_records(archived.frame, context, settings.kafka.topic, settings.kafka.dead_letter_topic)
        publisher.submit(encoded.records)
        stats.frames += 1
        stats.trades += encoded.trades
        stats.dead_letters += encoded.dead_letters
    stats.delivered = publisher.close(timeout_s)
    log.info("replay finished", frames=stats.frames, trades=stats.trades, dead_letters=stats.dead_letters,
             delivered=stats.delivered)
    return stats
