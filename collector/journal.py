"""The collector's write-ahead journal under <spool dir>: every frame's Kafka records are appended
(group-committed, no fsync per frame) before they are sent; a cursor file remembers how far Kafka
acknowledged, so a restart after `kill -9` sends the rest again with the same headers, in order."""

from __future__ import annotations

import fcntl
import functools
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from collector.encoding import Record
from collector.exceptions import SpoolError

SEGMENT_BYTES = 16 * 1024 * 1024
FLUSH_INTERVAL_S = 0.05           # group commit: what the reader journals reaches the OS within this
MAX_BYTES = 2 * 1024**3
_FRAME = struct.Struct(">II")     # payload length, crc32 of payload
_NONE = 0xFFFFFFFF
_SUFFIX = ".journal"


_pack_short = struct.Struct(">H").pack
_pack_int = struct.Struct(">I").pack
_pack_int_short = struct.Struct(">IH").pack
_pack_short_int = struct.Struct(">HI").pack
_name = functools.lru_cache(maxsize=10_000)(str.encode)


def encode_record(record: Record) -> bytes:
    """One journal entry: length, crc32, then topic, key (or none), value and headers."""
    topic = _name(record.topic)
    key, value, headers = record.key, record.value, record.headers
    parts = [_pack_short(len(topic)), topic, _pack_int(_NONE) if key is None else _pack_int(len(key)),
             key or b"", _pack_int_short(len(value), len(headers)), value]
    for name, header_value in headers:
        encoded = _name(name)
        parts += (_pack_short_int(len(encoded), len(header_value)), encoded, header_value)
    payload = b"".join(parts)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_record(payload: bytes | memoryview) -> Record:
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


def read_segment(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each intact record payload in a segment's bytes; a torn or corrupt record
    (a crash mid-write) ends the segment."""
    spans, pos, size = [], 0, len(data)
    while pos + _FRAME.size <= size:
        length, crc = _FRAME.unpack_from(data, pos)
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if end > size or zlib.crc32(data[start:end]) != crc:
            break
        spans.append((start, end))
        pos = end
    return spans


class Journal:
    """Records numbered from 0 for the life of the directory; segment `<n>.journal` starts with
    record n. `acked` is the contiguous prefix Kafka acknowledged. Not thread-safe: the publisher
    holds its lock around every call."""

    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory, self.max_bytes, self.segment_bytes = directory, max_bytes, segment_bytes
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(directory / "lock", "a")  # noqa: SIM115 - held for the journal's life
        except OSError as exc:
            raise SpoolError(f"cannot create journal directory {directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise SpoolError(f"journal {directory} is in use by another collector; give this one its own "
                             "--spool-dir") from None
        self._segments = sorted(int(p.name[:-len(_SUFFIX)]) for p in directory.glob(f"*{_SUFFIX}")
                                if p.name[:-len(_SUFFIX)].isdigit())
        cursor = self._read_cursor()
        if self._segments:
            last = self._segments[-1]
            self.next_index = last + len(read_segment(self._path(last).read_bytes()))
            # a cursor older than the oldest segment: those before it were acknowledged and deleted
            self.acked = min(max(cursor or 0, self._segments[0]), self.next_index)
        else:   # everything was acknowledged: numbering goes on where it stopped
            self.next_index = self.acked = cursor or 0
        self.flushed_index = self.next_index
        self._buffer = bytearray()
        self._writer = None
        self._writer_bytes = 0
        self._writer_base: int | None = None
        self._reader: tuple[int, bytes, list[tuple[int, int]]] | None = None   # (segment, data, spans)
        self._cursor_written = self.acked
        self._bytes = sum(self._size(s) for s in self._segments)
        self.release()
        self._import_legacy_spool()

    # -- positions
    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}{_SUFFIX}"

    def _size(self, segment: int) -> int:
        try:
            return self._path(segment).stat().st_size
        except OSError:
            return 0

    def _read_cursor(self) -> int | None:
        try:
            text = (self.directory / "acked").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    @property
    def backlog(self) -> int:
        """Records appended and not acknowledged (this run's and earlier runs')."""
        return self.next_index - self.acked

    @property
    def size_bytes(self) -> int:
        return self._bytes + len(self._buffer)

    @property
    def full(self) -> bool:
        return self.size_bytes >= self.max_bytes

    # -- writing
    def append(self, records: list[Record]) -> int:
        """Buffer `records`; returns the number of the first. `flush` (the publisher's writer thread,
        every FLUSH_INTERVAL_S) hands them to the OS."""
        first = self.next_index
        self._buffer += b"".join([encode_record(r) for r in records])
        self.next_index += len(records)
        return first

    def flush(self) -> None:
        """Hand the buffered records to the OS: after this a `kill -9` of the process loses none."""
        data, upto = self.take()
        if data:
            self.write_taken(self.writer_for(), data, upto)

    # flush in three steps, so that the write itself runs outside the publisher's lock (it takes
    # its own I/O lock around the three, so only one write is ever in progress)
    @property
    def unwritten(self) -> bool:
        """Records journaled but not yet handed to the OS."""
        return bool(self._buffer)

    @property
    def cursor_behind(self) -> bool:
        """Acknowledgements not yet persisted in the cursor file."""
        return self.acked != self._cursor_written

    def take(self) -> tuple[bytes, int]:
        """The buffered bytes and the record number they end before; the buffer starts afresh."""
        data, self._buffer = self._buffer, bytearray()
        return bytes(data), self.next_index

    def writer_for(self) -> Any:
        """The segment file the next write goes to (a new segment once the current is full)."""
        try:
            if self._writer is None or self._writer_bytes >= self.segment_bytes:
                self._open_writer()
        except OSError as exc:
            raise SpoolError(f"opening a journal segment in {self.directory} failed: {exc}") from exc
        return self._writer

    def write_taken(self, writer: Any, data: bytes, upto: int) -> None:
        try:
            writer.write(data)
        except OSError as exc:
            raise SpoolError(f"writing journal segment {self._writer_base} failed: {exc}") from exc
        self.written(len(data), upto)

    def written(self, size: int, upto: int) -> None:
        self._bytes += size
        self._writer_bytes += size
        self.flushed_index = upto

    def _open_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer_base = self.flushed_index
        self._writer = open(self._path(self._writer_base), "ab", buffering=0)  # noqa: SIM115
        self._writer_bytes = 0
        if self._writer_base not in self._segments:
            self._segments.append(self._writer_base)

    # -- reading back (restart, or the sender fell behind the in-memory queue)
    def read(self, index: int, max_records: int) -> list[Record]:
        """Up to `max_records` records from number `index` on (only what is flushed)."""
        records: list[Record] = []
        while index < self.flushed_index and len(records) < max_records:
            segment = max((s for s in self._segments if s <= index), default=None)
            if segment is None:
                raise SpoolError(f"journal record {index} is gone (segments start at {self._segments[:1]})")
            reader = self._reader
            if reader is None or reader[0] != segment or segment + len(reader[2]) <= index:
                data = self._path(segment).read_bytes()
                reader = self._reader = (segment, data, read_segment(data))
            _, data, spans = reader
            stop = min(len(spans), index - segment + max_records - len(records), self.flushed_index - segment)
            if index - segment >= stop:
                break    # a torn tail: the next segment starts after it
            view = memoryview(data)
            for start, end in spans[index - segment:stop]:
                records.append(decode_record(view[start:end]))
            index = segment + stop
        return records

    # -- acknowledgement
    def ack(self, index: int) -> None:
        """Kafka acknowledged every record below `index`."""
        self.acked = max(self.acked, index)

    def save_cursor(self) -> None:
        """Persist `acked` (atomically replaced file); segments wholly acknowledged are deleted."""
        if self.acked == self._cursor_written:
            return
        temporary = self.directory / "acked.tmp"
        try:
            temporary.write_text(str(self.acked))
            os.replace(temporary, self.directory / "acked")
        except OSError as exc:
            raise SpoolError(f"writing the journal cursor in {self.directory} failed: {exc}") from exc
        self._cursor_written = self.acked
        self.release()

    def release(self) -> None:
        drained = self.acked >= self.next_index
        for position, segment in enumerate(list(self._segments)):
            following = self._segments[position + 1] if position + 1 < len(self._segments) else None
            wholly_acked = following is not None and following <= self.acked
            if not (wholly_acked or (following is None and drained and not self._buffer)):
                continue
            if segment == self._writer_base and self._writer is not None:
                self._writer.close()
                self._writer, self._writer_base = None, None
            self._bytes -= self._size(segment)
            self._path(segment).unlink(missing_ok=True)
            self._segments.remove(segment)
            if self._reader is not None and self._reader[0] == segment:
                self._reader = None

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
        """Flush and fsync the journal, persist the cursor, release the directory lock."""
        self.flush()
        if self._writer is not None:
            os.fsync(self._writer.fileno())
            self._writer.close()
            self._writer, self._writer_base = None, None
        self._cursor_written = -1
        self.save_cursor()
        if not self._lock_file.closed:
            self._lock_file.close()

    def _import_legacy_spool(self) -> None:
        """Records a spool of an older collector (`*.spool` + `cursor`) still holds go first."""
        legacy = sorted(p for p in self.directory.glob("*.spool") if p.stem.isdigit())
        if not legacy:
            return
        cursor_segment, cursor_offset = -1, 0
        cursor = self.directory / "cursor"
        if cursor.exists():
            segment, _, offset = cursor.read_text().partition(":")
            if segment.strip().isdigit() and offset.strip().isdigit():
                cursor_segment, cursor_offset = int(segment), int(offset)
        for path in legacy:
            data = path.read_bytes()
            skip = cursor_offset if int(path.stem) == cursor_segment else 0
            records = [decode_record(data[skip + start:skip + end]) for start, end in read_segment(data[skip:])]
            if records:
                self.append(records)
        self.flush()
        if self._writer is not None:
            os.fsync(self._writer.fileno())
        for path in legacy:
            path.unlink()
        cursor.unlink(missing_ok=True)
