"""The spool: an append-only journal of Kafka records (headers included) under <home>/spool/,
written while Kafka is unreachable and read back in order once it returns."""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from pathlib import Path

from collector.encoding import Record
from collector.exceptions import SpoolError

SEGMENT_BYTES = 64 * 1024 * 1024
_FIRST_SEGMENT = 10**15          # room below for segments written in front at shutdown
_FRAME = struct.Struct(">II")    # payload length, crc32 of payload
_NONE = 0xFFFFFFFF


def encode_record(record: Record) -> bytes:
    topic = record.topic.encode()
    parts = [struct.pack(">H", len(topic)), topic]
    if record.key is None:
        parts.append(struct.pack(">I", _NONE))
    else:
        parts += [struct.pack(">I", len(record.key)), record.key]
    parts += [struct.pack(">IH", len(record.value), len(record.headers)), record.value]
    for name, value in record.headers:
        encoded = name.encode()
        parts += [struct.pack(">HI", len(encoded), len(value)), encoded, value]
    payload = b"".join(parts)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_record(payload: bytes) -> Record:
    view = memoryview(payload)
    (size,) = struct.unpack_from(">H", view, 0)
    pos = 2 + size
    topic = bytes(view[2:pos]).decode()
    (size,) = struct.unpack_from(">I", view, pos)
    pos += 4
    key = None
    if size != _NONE:
        key, pos = bytes(view[pos:pos + size]), pos + size
    size, count = struct.unpack_from(">IH", view, pos)
    pos += 6
    value, pos = bytes(view[pos:pos + size]), pos + size
    headers = []
    for _ in range(count):
        name_size, value_size = struct.unpack_from(">HI", view, pos)
        pos += 6
        name = bytes(view[pos:pos + name_size]).decode()
        pos += name_size
        headers.append((name, bytes(view[pos:pos + value_size])))
        pos += value_size
    return Record(topic, key, value, headers)


class Spool:
    """Segments `<id>.spool` read in id order. Not thread-safe: the publisher holds a lock.

    A torn record at the end of a segment (a crash mid-write) ends that segment; appends always
    go to a segment this process opened, never after a torn tail.
    """

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(directory / "lock", "a")  # noqa: SIM115 - held for the spool's life
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise SpoolError(f"spool {directory} is in use by another collector; give this one its own "
                             "--spool-dir") from None
        self._segments = sorted(int(p.stem) for p in directory.glob("*.spool") if p.stem.isdigit())
        self._writer = None
        self._writer_id: int | None = None
        self._reader = None
        self._reader_id: int | None = None
        self.pending_records = 0      # appended by this process and not yet read back
        self._consumed: list[int] = []
        self._cursor: tuple[int, int] | None = None   # (segment, offset) a previous run read up to
        cursor_file = directory / "cursor"
        if cursor_file.exists():
            segment, _, offset = cursor_file.read_text().partition(":")
            if segment.strip().isdigit() and offset.strip().isdigit():
                self._cursor = (int(segment), int(offset))
            cursor_file.unlink()
        self._had_backlog = bool(self._segments)

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}.spool"

    @property
    def has_backlog(self) -> bool:
        """Whether anything not yet read back is on disk (including a previous run's records)."""
        return self.pending_records > 0 or self._had_backlog

    def size_bytes(self) -> int:
        total = 0
        for segment in self._segments:
            try:
                total += self._path(segment).stat().st_size
            except OSError:
                pass
        return total

    def append(self, records: list[Record]) -> None:
        try:
            if self._writer is None or self._writer.tell() >= self.segment_bytes:
                self._open_writer()
            self._writer.write(b"".join(encode_record(r) for r in records))
            self._writer.flush()   # visible to the reader; the OS keeps it if this process dies
        except OSError as exc:
            raise SpoolError(f"writing spool segment {self._writer_id} failed: {exc}") from exc
        self.pending_records += len(records)

    def _open_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
        segment = (self._segments[-1] + 1) if self._segments else _FIRST_SEGMENT
        self._writer = open(self._path(segment), "ab")
        self._writer_id = segment
        self._segments.append(segment)

    def read(self, max_records: int) -> list[Record]:
        """Up to `max_records` records after the read cursor, in append order."""
        records: list[Record] = []
        while len(records) < max_records:
            if self._reader is None:
                if not self._open_reader():
                    break
            position = self._reader.tell()
            header = self._reader.read(_FRAME.size)
            if len(header) == _FRAME.size:
                size, crc = _FRAME.unpack(header)
                payload = self._reader.read(size)
                if len(payload) == size and zlib.crc32(payload) == crc:
                    records.append(decode_record(payload))
                    continue
            if self._reader_id == self._writer_id:   # caught up with the writer: wait for more
                self._reader.seek(position)
                break
            self._finish_reader()                     # end of segment, or a torn tail
        self.pending_records = max(0, self.pending_records - len(records))
        return records

    def _open_reader(self) -> bool:
        candidates = [s for s in self._segments if s not in self._consumed]
        if not candidates:
            self._had_backlog = False
            return False
        self._reader_id = candidates[0]
        self._reader = open(self._path(self._reader_id), "rb")
        if self._cursor is not None and self._cursor[0] == self._reader_id:
            self._reader.seek(self._cursor[1])
            self._cursor = None
        return True

    def _finish_reader(self) -> None:
        self._reader.close()
        self._consumed.append(self._reader_id)
        self._reader = None
        self._reader_id = None

    def seal(self) -> None:
        """Everything was read back: close the tail so the next append starts a new segment."""
        if self._writer is not None:
            self._writer.close()
            self._writer, self._writer_id = None, None
        if self._reader is not None:
            self._finish_reader()
        self._had_backlog = False

    def consumed_segments(self) -> list[int]:
        return list(self._consumed)

    def release(self, segments: list[int]) -> None:
        """Delete segments whose records Kafka has acknowledged."""
        for segment in segments:
            self._path(segment).unlink(missing_ok=True)
            if segment in self._consumed:
                self._consumed.remove(segment)
            if segment in self._segments:
                self._segments.remove(segment)

    def prepend(self, records: list[Record]) -> None:
        """Persist records that come before everything spooled (un-acknowledged at shutdown)."""
        if not records:
            return
        segment = (min(self._segments) - 1) if self._segments else _FIRST_SEGMENT
        path = self._path(segment)
        try:
            with open(path, "wb") as handle:
                handle.write(b"".join(encode_record(r) for r in records))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise SpoolError(f"writing spool segment {path} failed: {exc}") from exc
        self._segments.insert(0, segment)

    def reject(self, records: list[Record]) -> Path:
        """Keep records Kafka refuses for good (e.g. too large) in `rejected.journal`, for inspection."""
        path = self.directory / "rejected.journal"
        try:
            with open(path, "ab") as handle:
                handle.write(b"".join(encode_record(r) for r in records))
        except OSError as exc:
            raise SpoolError(f"writing {path} failed: {exc}") from exc
        return path

    def close(self) -> None:
        """Flush to disk and remember the read position inside the first unread segment."""
        if self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            position = self._reader.tell()
            self._reader.close()
            self._reader = None
            if position:
                (self.directory / "cursor").write_text(f"{self._reader_id}:{position}")
        if not self._lock_file.closed:
            self._lock_file.close()   # releases the flock
