"""Combining a symbol's records of consecutive frames into one Kafka record whose `tp-frames` header
keeps every trade's id (the sender does it before producing), and encoding all frames of one socket
read straight into such records (the collector's reader does it before journaling)."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from collector.encoding import (
    HARD_FRAME_BYTES,
    MAX_FRAME_BYTES,
    MAX_RECORD_BYTES,
    TRADE_TAIL,
    EncodedFrame,
    FrameContext,
    Record,
    avro_long,
    frame_records,
    trade_items,
)
from collector.feeds import FEEDS, ParsedFrame
from core.schemas import HEADER_FRAMES, HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE

COMBINED_MAX_BYTES = 512 * 1024
# A merged record carries its earliest frame's receive time, and the stream processor refuses a trade
# stamped more than a few seconds after its record's receive time: merge only frames this close.
COMBINED_MAX_SPAN_MS = 500


def _array_count(value: bytes) -> tuple[int, int]:
    """(item count, bytes of the count) of an Avro array's first block at the start of `value`."""
    shift = result = position = 0
    while True:
        byte = value[position]
        result |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), position


class _Piece(NamedTuple):
    """A symbol's trades of one frame (or of a record already combined): the Avro items without
    the array's count and end, and what its record's headers say."""

    topic: str
    key: bytes
    producer: tuple[str, bytes]        # the tp-producer-id header
    sequence: tuple[str, bytes]        # the tp-seq header
    received: tuple[str, bytes]        # the tp-received-ms header
    source: tuple[str, bytes]          # the tp-source header
    count: int
    items: bytes
    size: int                          # bytes of the record's value
    runs: bytes | None = None          # the tp-frames header of a combined record
    record: Record | None = None       # the record it came from, returned as it is when not merged

    def run(self) -> bytes:
        return self.runs if self.runs is not None else b"%s:%d" % (self.sequence[1], self.count)

    def as_record(self) -> Record:
        if self.record is not None:
            return self.record
        return Record(self.topic, self.key, b"".join([avro_long(self.count), self.items, TRADE_TAIL]),
                      [self.producer, self.sequence, self.received, self.source])


def _piece(record: Record) -> _Piece | None:
    """The piece a record of our own shape holds (one frame's, or combined), else None."""
    headers = record.headers
    if not (record.key is not None and 4 <= len(headers) <= 5 and headers[0][0] == HEADER_PRODUCER_ID
            and headers[1][0] == HEADER_SEQUENCE and headers[2][0] == HEADER_RECEIVED_AT
            and headers[3][0] == HEADER_SOURCE and record.value.endswith(TRADE_TAIL)):
        return None
    runs = None
    if len(headers) == 5:
        if headers[4][0] != HEADER_FRAMES:
            return None
        runs = headers[4][1]
    count, size = _array_count(record.value)
    return _Piece(record.topic, record.key, headers[0], headers[1], headers[2], headers[3], count,
                  record.value[size:-len(TRADE_TAIL)], len(record.value), runs, record)


class _Combiner:
    """Pieces of consecutive frames grouped per (topic, symbol, producer, source), in first-seen
    order, each group under `max_bytes` of value and `max_span_ms` of receive time; other records
    keep their place."""

    def __init__(self, max_bytes: int = COMBINED_MAX_BYTES, max_span_ms: int = COMBINED_MAX_SPAN_MS) -> None:
        self.max_bytes, self.max_span_ms = max_bytes, max_span_ms
        self.order: list[list[_Piece] | Record] = []
        self.groups: dict[tuple, list[_Piece]] = {}
        self.limits: dict[tuple, tuple[int, int]] = {}   # group -> (bytes so far, earliest receive time)

    def add_record(self, record: Record) -> None:
        piece = _piece(record)
        if piece is None:
            self.order.append(record)
        else:
            self.add(piece)

    def add(self, piece: _Piece) -> None:
        group_key = (piece.topic, piece.key, piece.producer[1], piece.source[1])
        group = self.groups.get(group_key)
        received = int(piece.received[1])
        if group is not None:
            size, earliest = self.limits[group_key]
            if size + piece.size > self.max_bytes or received - earliest > self.max_span_ms:
                group = None
        if group is None:
            group = self.groups[group_key] = []
            size, earliest = 0, received
            self.order.append(group)
        group.append(piece)
        self.limits[group_key] = (size + piece.size, min(earliest, received))

    def records(self) -> list[Record]:
        return [entry if isinstance(entry, Record) else entry[0].as_record() if len(entry) == 1 else _merge(entry)
                for entry in self.order]


def _merge(group: list[_Piece]) -> Record:
    first = group[0]
    received = min(int(piece.received[1]) for piece in group)
    headers = [first.producer, first.sequence, (HEADER_RECEIVED_AT, str(received).encode()), first.source,
               (HEADER_FRAMES, b",".join([piece.run() for piece in group]))]
    value = b"".join([avro_long(sum(piece.count for piece in group)), *[piece.items for piece in group], TRADE_TAIL])
    return Record(first.topic, first.key, value, headers)


def combine_records(records: list[Record], max_bytes: int = COMBINED_MAX_BYTES,
                    max_span_ms: int = COMBINED_MAX_SPAN_MS) -> list[Record]:
    """Records of consecutive frames merged per (topic, symbol, producer, source) into one record
    whose `tp-frames` header keeps every trade's id (see core.schemas.HEADER_FRAMES); a symbol's
    order is kept; a merged record stays under `max_bytes` and spans at most `max_span_ms` of
    receive time. Records already merged merge further; dead letters and records of other shapes
    pass unchanged."""
    combiner = _Combiner(max_bytes, max_span_ms)
    for record in records:
        combiner.add_record(record)
    return combiner.records()


# -- every data frame of one socket read at once: the collector's path at a few trades per frame,
# where a record, headers and a journal entry per frame cost more than the frame's trades
@dataclass
class EncodedRead:
    """The records of the frames of one socket read and what the frames held."""

    records: list[Record] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)    # frames per kind (ParsedFrame.kind)
    trades: int = 0
    dead_letters: int = 0
    notable: list[tuple[int, EncodedFrame]] = field(default_factory=list)
    """(sequence, frame) of the frames with dead letters, a server error or control events"""


def encode_read(frames: list[bytes], context: FrameContext, topic: str, dead_letter_topic: str,
                max_frame_bytes: int = MAX_FRAME_BYTES, merge: bool = True) -> EncodedRead:
    """`frame_records` of consecutive frames numbered from `context.sequence`, all received at
    `context.received_ms`; with `merge`, combined as `combine_records` combines them (equal
    records), without making a record per frame first. Never raises on bad input."""
    parse, limit = FEEDS[context.protocol].parse, max(max_frame_bytes, HARD_FRAME_BYTES)
    producer = (HEADER_PRODUCER_ID, context.producer_id.encode())
    received = (HEADER_RECEIVED_AT, str(context.received_ms).encode())
    source = (HEADER_SOURCE, context.source.encode())
    combiner = _Combiner()
    result = EncodedRead()
    kinds = result.kinds
    for sequence, raw in enumerate(frames, context.sequence):
        parsed = parse(raw) if len(raw) <= limit else None
        pieces: list[_Piece] | None = None
        if parsed is not None and parsed.error is None and not parsed.rejected and parsed.message is None \
                and not parsed.events:
            pieces = _frame_pieces(parsed, topic, producer, (HEADER_SEQUENCE, b"%d" % sequence), received, source)
        if pieces is None:   # refused, partly refused or unusual: the per-frame path, with its dead letters
            encoded = frame_records(raw, replace(context, sequence=sequence), topic, dead_letter_topic,
                                    max_frame_bytes)
            parsed = encoded.parsed
            result.trades += encoded.trades
            result.dead_letters += encoded.dead_letters
            if encoded.dead_letters or parsed.message is not None or parsed.events:
                result.notable.append((sequence, encoded))
            for record in encoded.records:
                if merge:
                    combiner.add_record(record)
                else:
                    result.records.append(record)
        else:
            for piece in pieces:
                result.trades += piece.count
                if merge:
                    combiner.add(piece)
                else:
                    result.records.append(piece.as_record())
        kinds[parsed.kind] = kinds.get(parsed.kind, 0) + 1
    if merge:
        result.records = combiner.records()
    return result


def _frame_pieces(parsed: ParsedFrame, topic: str, producer: tuple[str, bytes], sequence: tuple[str, bytes],
                  received: tuple[str, bytes], source: tuple[str, bytes]) -> list[_Piece] | None:
    """A valid frame's trades per symbol, or None when one symbol's would not fit a Kafka record."""
    pieces = []
    for symbol, trades in parsed.trades.items():
        try:
            items = trade_items(trades)
        except (ValueError, TypeError, OverflowError, struct.error):   # validation makes this unreachable
            return None
        count = len(trades)
        size = len(avro_long(count)) + len(items) + len(TRADE_TAIL)
        if size > MAX_RECORD_BYTES:
            return None
        pieces.append(_Piece(topic, _key(symbol), producer, sequence, received, source, count, items, size))
    return pieces


@functools.lru_cache(maxsize=100_000)
def _key(symbol: str) -> bytes:
    return symbol.encode("utf-8", "surrogateescape")
