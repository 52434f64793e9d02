"""Turning one received frame into Kafka records: one Avro message (`core.schemas.encode_message`) per symbol,
dead letters for refused frames and trades, and the metadata headers. Collect and replay share it."""

from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from collector.feeds import FEEDS, ParsedFrame
from core.schemas import (
    HEADER_DLQ_REASON,
    HEADER_PRODUCER_ID,
    HEADER_RECEIVED_AT,
    HEADER_SEQUENCE,
    HEADER_SOURCE,
)

MAX_FRAME_BYTES = 1024 * 1024        # a larger frame is split per symbol (and parsed with care)
MAX_RECORD_BYTES = 1_000_000          # an Avro value Kafka takes (the producer's 1 MiB request limit)
HARD_FRAME_BYTES = 64 * 1024 * 1024   # beyond this a frame is refused whole (kept as dead-letter parts)
DEAD_LETTER_VALUE_LIMIT = 256 * 1024   # stays well under the producer's 1 MiB request limit


class Record(NamedTuple):
    """One Kafka record to produce; headers are (name, utf-8 bytes) pairs."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class FrameContext:
    """What identifies a received frame: it makes the trade ids downstream."""

    producer_id: str
    sequence: int
    received_ms: int
    source: str
    protocol: str = "finnhub"           # the feed (collector.feeds) that parses it

    def headers(self) -> list[tuple[str, bytes]]:
        return [(HEADER_PRODUCER_ID, self.producer_id.encode()),
                (HEADER_SEQUENCE, str(self.sequence).encode()),
                (HEADER_RECEIVED_AT, str(self.received_ms).encode()),
                (HEADER_SOURCE, self.source.encode())]


@dataclass
class EncodedFrame:
    """The records of one frame and what the frame held, for metrics and logs."""

    parsed: ParsedFrame
    records: list[Record] = field(default_factory=list)
    trades: int = 0
    dead_letters: int = 0


def _dead_letter_parts(payload: bytes) -> list[tuple[bytes, str]]:
    """A dead letter's value in parts under DEAD_LETTER_VALUE_LIMIT, each with a note: nothing is cut off."""
    if len(payload) <= DEAD_LETTER_VALUE_LIMIT:
        return [(payload, "")]
    parts = range(0, len(payload), DEAD_LETTER_VALUE_LIMIT)
    return [(payload[start:start + DEAD_LETTER_VALUE_LIMIT],
             f" (part {number} of {len(parts)} of {len(payload)} bytes)") for number, start in enumerate(parts, 1)]


def _to_bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")


# -- the Avro encoding of schemas/trades.avsc, written directly (a unit test proves byte-equality
# with fastavro): {data: array<{c: array<string|null>|null, p: double, s: string, t: long, v: double}>,
# type: string}. A fifth of fastavro's cost for the small messages a frame makes.
_pack_double = struct.Struct("<d").pack
_NULL_CONDITIONS = b"\x02"
TRADE_TAIL = b"\x00\x0atrade"   # the data array's end block, then the type string "trade"


_SMALL_LONGS = [bytes((n << 1,)) for n in range(64)]


def avro_long(number: int) -> bytes:
    """Avro's zigzag varint."""
    if 0 <= number < 64:
        return _SMALL_LONGS[number]
    encoded = (number << 1) ^ (number >> 63)
    if 1 << 35 <= encoded < 1 << 42:    # epoch milliseconds: unrolled, the common case by far
        return bytes((encoded & 127 | 128, encoded >> 7 & 127 | 128, encoded >> 14 & 127 | 128,
                      encoded >> 21 & 127 | 128, encoded >> 28 & 127 | 128, encoded >> 35))
    out = bytearray()
    while encoded > 0x7F:
        out.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    out.append(encoded)
    return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return avro_long(len(data)) + data


_symbol = functools.lru_cache(maxsize=100_000)(_string)


@functools.lru_cache(maxsize=10_000)
def _conditions(conditions: tuple[str, ...]) -> bytes:
    """The union branch 0 (array of string-or-null) holding `conditions`; cached per combination."""
    return (b"\x00" + avro_long(len(conditions)) + b"".join([b"\x02" + _string(c) for c in conditions])
            + b"\x00") if conditions else b"\x00\x00"


def encode_trades(trades: list[dict[str, Any]]) -> bytes:
    """The Avro value of `{"type": "trade", "data": trades}` for validated trades (see
    feeds.base.trade_problem); equal, byte for byte, to core.schemas.encode_message."""
    return b"".join([avro_long(len(trades)), trade_items(trades), TRADE_TAIL])


def trade_items(trades: list[dict[str, Any]]) -> bytes:
    """The data array's items, without its count and end."""
    parts: list[bytes] = []
    append = parts.append
    for trade in trades:
        conditions = trade.get("c")
        append(_NULL_CONDITIONS if conditions is None else _conditions(tuple(conditions)))
        append(_pack_double(float(trade["p"])))
        append(_symbol(trade["s"]))
        append(avro_long(trade["t"]))
        append(_pack_double(float(trade["v"])))
    return b"".join(parts)


def _dead_letters(records: list[Record], topic: str, key: bytes | None, payload: bytes, reason: str,
                  headers: list[tuple[str, bytes]]) -> int:
    parts = _dead_letter_parts(payload)
    for value, note in parts:
        records.append(Record(topic, key, value, [*headers, (HEADER_DLQ_REASON, (reason + note).encode())]))
    return len(parts)


def _symbol_records(symbol: str, trades: list[dict[str, Any]], key: bytes, topic: str,
                    headers: list[tuple[str, bytes]], parsed: ParsedFrame, result: EncodedFrame) -> None:
    try:
        value = encode_trades(trades)
    except (ValueError, TypeError, OverflowError, struct.error) as exc:   # validation makes this unreachable
        for trade in trades:
            parsed.rejected.append((f"avro encoding failed: {exc}", trade))
        return
    if len(value) > MAX_RECORD_BYTES:
        # one record per symbol and frame is what keeps trade ids (producer-seq-index); a symbol's
        # part this large cannot be cut without changing them: kept whole in dead-letter parts
        for trade in trades:
            parsed.rejected.append((f"{symbol}'s {len(trades)} trades of this frame make {len(value)} bytes of "
                                    f"Avro, more than one Kafka record holds ({MAX_RECORD_BYTES})", trade))
        return
    result.records.append(Record(topic, key, value, headers))
    result.trades += len(trades)


def frame_records(raw: bytes | str, context: FrameContext, topic: str, dead_letter_topic: str,
                  max_frame_bytes: int = MAX_FRAME_BYTES) -> EncodedFrame:
    """Parse, validate and encode one frame: one Avro record per symbol, keyed by symbol,
    plus dead letters for a refused frame or trade. A frame over `max_frame_bytes` is split per
    symbol like any other (up to HARD_FRAME_BYTES). Never raises on bad input."""
    headers = context.headers()
    if len(raw) > max(max_frame_bytes, HARD_FRAME_BYTES):
        parsed = ParsedFrame("invalid", error=f"frame of {len(raw)} bytes exceeds {HARD_FRAME_BYTES}")
    else:
        parsed = FEEDS[context.protocol].parse(raw)
    result = EncodedFrame(parsed)
    records = result.records
    if parsed.error is not None:
        result.dead_letters = _dead_letters(records, dead_letter_topic, None, _to_bytes(raw), parsed.error, headers)
        return result
    for symbol, trades in parsed.trades.items():
        _symbol_records(symbol, trades, symbol.encode("utf-8", "surrogateescape"), topic, headers, parsed, result)
    for reason, trade in parsed.rejected:
        symbol = trade.get("s", trade.get("S")) if type(trade) is dict else None
        key = symbol.encode("utf-8", "surrogateescape") if type(symbol) is str and symbol else None
        payload = json.dumps(trade, default=repr).encode("utf-8", "surrogateescape")
        result.dead_letters += _dead_letters(records, dead_letter_topic, key, payload, reason, headers)
    return result
