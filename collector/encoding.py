"""Turning one received frame into Kafka records: one Avro message (`core.schemas.encode_message`) per symbol,
dead letters for refused frames and trades, and the metadata headers. Collect and replay share it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from collector import alpaca, finnhub
from collector.finnhub import ParsedFrame
from core.schemas import (
    HEADER_DLQ_REASON,
    HEADER_PRODUCER_ID,
    HEADER_RECEIVED_AT,
    HEADER_SEQUENCE,
    HEADER_SOURCE,
    encode_message,
)

MAX_FRAME_BYTES = 1024 * 1024
DEAD_LETTER_VALUE_LIMIT = 256 * 1024   # stays well under the producer's 1 MiB request limit
PARSERS: dict[str, Callable[[bytes | str], ParsedFrame]] = {
    "finnhub": finnhub.parse_frame,
    "alpaca": alpaca.parse_message,
}


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
    protocol: str = "finnhub"

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


def _dead_letter_value(payload: bytes) -> tuple[bytes, str]:
    if len(payload) <= DEAD_LETTER_VALUE_LIMIT:
        return payload, ""
    return payload[:DEAD_LETTER_VALUE_LIMIT], f" (value truncated to {DEAD_LETTER_VALUE_LIMIT} of {len(payload)} bytes)"


def _to_bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")


def frame_records(raw: bytes | str, context: FrameContext, topic: str, dead_letter_topic: str,
                  max_frame_bytes: int = MAX_FRAME_BYTES) -> EncodedFrame:
    """Parse, validate and encode one frame: one Avro record per symbol, keyed by symbol,
    plus one dead letter per refused frame or trade. Never raises on bad input."""
    headers = context.headers()
    if len(raw) > max_frame_bytes:
        parsed = ParsedFrame("invalid", error=f"frame of {len(raw)} bytes exceeds {max_frame_bytes}")
    else:
        parsed = PARSERS[context.protocol](raw)
    result = EncodedFrame(parsed)
    records = result.records
    if parsed.error is not None:
        value, note = _dead_letter_value(_to_bytes(raw))
        records.append(Record(dead_letter_topic, None, value,
                              [*headers, (HEADER_DLQ_REASON, (parsed.error + note).encode())]))
        result.dead_letters = 1
        return result
    for symbol, trades in parsed.trades.items():
        key = symbol.encode("utf-8", "surrogateescape")
        try:
            value = encode_message(trades)
        except (ValueError, TypeError, OverflowError) as exc:  # validation should make this unreachable
            for trade in trades:
                parsed.rejected.append((f"avro encoding failed: {exc}", trade))
            continue
        records.append(Record(topic, key, value, headers))
        result.trades += len(trades)
    for reason, trade in parsed.rejected:
        symbol = trade.get("s", trade.get("S")) if type(trade) is dict else None
        key = symbol.encode("utf-8", "surrogateescape") if type(symbol) is str and symbol else None
        value, note = _dead_letter_value(json.dumps(trade, default=repr).encode("utf-8", "surrogateescape"))
        records.append(Record(dead_letter_topic, key, value,
                              [*headers, (HEADER_DLQ_REASON, (reason + note).encode())]))
        result.dead_letters += 1
    return result
